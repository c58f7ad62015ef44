// Replaced by the page's implementation.
export function AlarmRulesPage(_props: Record<string, unknown>) {
  return <main className="page"><h1>AlarmRulesPage</h1></main>;
}
