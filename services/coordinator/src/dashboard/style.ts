/** The dashboard's CSS: dark NOC palette; a state's colour matches the CLI's. */
export const DASHBOARD_STYLE = `
:root { color-scheme: dark; --bg:#0f1419; --panel:#182029; --fg:#d8dee9; --muted:#7b8794;
  --green:#2f9e44; --yellow:#d9a400; --red:#d9480f; --cyan:#1c7ed6; --grey:#495057; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.4 system-ui, sans-serif; background:var(--bg); color:var(--fg); }
header { display:flex; gap:1rem; align-items:center; padding:.5rem 1rem; background:var(--panel); }
h1 { margin:0; font-size:1.2rem; } h2 { font-size:1rem; color:var(--muted); margin:.5rem 0; }
main { padding:0 1rem 1rem; }
.conn { padding:.1rem .5rem; border-radius:1rem; font-size:.8rem; }
.conn.on { background:var(--green); } .conn.off { background:var(--red); }
#token-form { margin-left:auto; }
.sites { display:flex; gap:.5rem; flex-wrap:wrap; }
.site { padding:.5rem .8rem; border-radius:.4rem; background:var(--panel); border-left:.4rem solid var(--grey); min-width:8rem; }
.site.up { border-color:var(--green); } .site.suspect { border-color:var(--yellow); } .site.lost { border-color:var(--red); }
.grid { display:grid; grid-template-columns:repeat(auto-fill, minmax(11rem, 1fr)); gap:.5rem; }
.tile { padding:.6rem; border-radius:.4rem; cursor:pointer; background:var(--grey); color:#fff; border:2px solid transparent; }
.tile:hover, .tile.selected { border-color:#fff; }
.tile .id { font-weight:600; } .tile .meta { font-size:.8rem; opacity:.9; }
.tile.s-green { background:var(--green); } .tile.s-yellow { background:var(--yellow); color:#111; }
.tile.s-red { background:var(--red); } .tile.s-cyan { background:var(--cyan); }
.tile.flash { animation: flash 1s; }
@keyframes flash { from { box-shadow:0 0 0 4px #fff; } to { box-shadow:none; } }
#timeline { font-family:ui-monospace, monospace; font-size:.8rem; max-height:24rem; overflow:auto; background:var(--panel); padding:.5rem 1rem; list-style:none; }
#timeline li.decision { color:#ffd43b; } #timeline li.input { color:var(--muted); }
#error { position:fixed; bottom:0; left:0; right:0; background:var(--red); color:#fff; padding:.3rem 1rem; display:none; }
`;
