// A CodeMirror 6 editor for code fields: JavaScript highlighting for
// scripts, undo history and the usual keys; the value stays controlled.
import { useEffect, useRef } from 'react';
import { defaultKeymap, history, historyKeymap, indentWithTab } from '@codemirror/commands';
import { javascript } from '@codemirror/lang-javascript';
import { bracketMatching, defaultHighlightStyle, indentOnInput, syntaxHighlighting } from '@codemirror/language';
import { EditorState } from '@codemirror/state';
import { EditorView, keymap, lineNumbers } from '@codemirror/view';

export function CodeField(props: { value: string; language?: string; labelId: string; testId: string; invalid: boolean; onChange(v: string): void }) {
  const host = useRef<HTMLDivElement>(null);
  const view = useRef<EditorView | null>(null);
  const onChange = useRef(props.onChange);
  onChange.current = props.onChange;

  useEffect(() => {
    if (!host.current) return;
    const v = new EditorView({
      parent: host.current,
      state: EditorState.create({
        doc: props.value,
        extensions: [
          lineNumbers(),
          history(),
          indentOnInput(),
          bracketMatching(),
          syntaxHighlighting(defaultHighlightStyle, { fallback: true }),
          keymap.of([...defaultKeymap, ...historyKeymap, indentWithTab]),
          ...(props.language === 'javascript' || !props.language ? [javascript()] : []),
          EditorView.lineWrapping,
          EditorView.contentAttributes.of({ 'aria-labelledby': props.labelId, 'aria-multiline': 'true', role: 'textbox', 'aria-invalid': String(props.invalid) }),
          EditorView.updateListener.of((u) => {
            if (u.docChanged) onChange.current(u.state.doc.toString());
          }),
        ],
      }),
    });
    view.current = v;
    return () => {
      v.destroy();
      view.current = null;
    };
    // The editor is made once; value changes from outside (undo) come below.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [props.language, props.labelId]);

  useEffect(() => {
    const v = view.current;
    if (v && v.state.doc.toString() !== props.value) {
      v.dispatch({ changes: { from: 0, to: v.state.doc.length, insert: props.value } });
    }
  }, [props.value]);

  // A click anywhere in the box (also below the last line) puts the cursor in.
  return <div ref={host} className={`ed-code${props.invalid ? ' invalid' : ''}`} data-testid={props.testId}
    onMouseDown={(e) => { if (view.current && !view.current.contentDOM.contains(e.target as Node)) { e.preventDefault(); view.current.focus(); } }} />;
}
