// Replaced by the page's implementation.
export function DashboardPage(_props: Record<string, unknown>) {
  return <main className="page"><h1>DashboardPage</h1></main>;
}
