import { DASHBOARD_SCRIPT } from './script';
import { DASHBOARD_STYLE } from './style';

/**
 * Pure. The NOC dashboard: one self-contained HTML page (no build step, no CDN). It reads
 * /api/v1/sites and /api/v1/workloads, then follows /api/v1/stream (EventSource) for live
 * changes; a click on a workload tile shows its timeline of recorded events.
 */
export function dashboardHtml(): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>drc — disaster recovery</title>
<style>${DASHBOARD_STYLE}</style>
</head>
<body>
<header>
  <h1>drc</h1>
  <span id="conn" class="conn off" data-testid="connection">connecting…</span>
  <form id="token-form"><input id="token" type="password" placeholder="API token" autocomplete="off"><button>use token</button></form>
</header>
<main>
  <section><h2>Sites</h2><div id="sites" class="sites" data-testid="sites"></div></section>
  <section><h2>Workloads</h2><div id="workloads" class="grid" data-testid="workloads"></div></section>
  <section id="timeline-panel" hidden><h2 id="timeline-title">Timeline</h2><ol id="timeline" data-testid="timeline"></ol></section>
</main>
<div id="error" role="alert"></div>
<script>${DASHBOARD_SCRIPT}</script>
</body>
</html>`;
}
