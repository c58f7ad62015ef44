// Replaced by the page's implementation.
export function FlowsPage(_props: Record<string, unknown>) {
  return <main className="page"><h1>FlowsPage</h1></main>;
}
