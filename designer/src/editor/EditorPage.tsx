// Replaced by the page's implementation.
export function EditorPage(_props: Record<string, unknown>) {
  return <main className="page"><h1>EditorPage</h1></main>;
}
