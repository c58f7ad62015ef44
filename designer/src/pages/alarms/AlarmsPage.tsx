// Replaced by the page's implementation.
export function AlarmsPage(_props: Record<string, unknown>) {
  return <main className="page"><h1>AlarmsPage</h1></main>;
}
