// Replaced by the page's implementation.
export function HealthPage(_props: Record<string, unknown>) {
  return <main className="page"><h1>HealthPage</h1></main>;
}
