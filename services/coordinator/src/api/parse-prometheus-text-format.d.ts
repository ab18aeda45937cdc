declare module 'parse-prometheus-text-format' {
  /** Parses Prometheus text exposition; throws on malformed input. */
  export default function parsePrometheusTextFormat(text: string): Array<{ name: string; help: string; type: string; metrics: unknown[] }>;
}
