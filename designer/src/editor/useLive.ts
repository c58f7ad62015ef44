// The live view: while on, the trace WebSocket feeds edge counts and the
// debug log, and the flow's status is polled for node badges.
import { useEffect } from 'react';
import { flowStatus } from '../api/flows';
import { openTrace } from '../api/trace';
import { errorText } from './Dialog';
import { useEd, useEdApi, type StatusLine } from './store';

export const STATUS_EVERY_MS = 2000;

export function useLive() {
  const api = useEdApi();
  const live = useEd((s) => s.live);
  const flowId = useEd((s) => s.flowId);

  useEffect(() => {
    if (!live) return;
    let stop: (() => void) | null = null;
    let cancelled = false;
    // The last status line this live view set: when Live goes off, a line it
    // set gives way to "Live view off." (unless it says why Live could not
    // start); lines set by others (a save, a deploy) stay.
    let mine: StatusLine | null = null;
    let failedToStart = false;
    const say = (st: StatusLine) => {
      mine = st;
      api.getState().setStatus(st);
    };
    const s = api.getState();
    s.resetCounts();
    say({ text: 'Live view: connecting…', kind: 'busy' });
    openTrace(flowId, {
      // Events flow once the server has subscribed the socket, not when it opens.
      onNotice: (n) => {
        if (n.type === 'subscribed') say({ text: 'Live view on.', kind: 'info' });
        else if (n.type === 'dropped') say({ text: `Live view: ${n.count} events lost (the browser read too slowly).`, kind: 'info' });
      },
      onEvent: (ev) => {
        const st = api.getState();
        if (ev.direction === 'out' && ev.relation) st.addCount(`${ev.node}|${ev.relation}`);
        if (!st.paused) st.pushLog(ev);
      },
      onClose: (reason) => say({ text: `Live view closed: ${reason}`, kind: 'error' }),
      onError: (m) => say({ text: m, kind: 'error' }),
    }).then((close) => {
      if (cancelled) close();
      else stop = close;
    }, (e: unknown) => {
      failedToStart = true;
      say({ text: errorText(e), kind: 'error' });
      api.getState().setLive(false);
    });

    const ac = new AbortController();
    const poll = async () => {
      try {
        const st = await flowStatus(flowId, ac.signal);
        api.getState().setStats(st.deployed ? st.stats ?? null : null);
        if (!st.deployed && !ac.signal.aborted) say({ text: 'Live view: the flow is not deployed; events start when it is.', kind: 'info' });
      } catch (e) {
        if (!ac.signal.aborted) say({ text: errorText(e), kind: 'error' });
      }
    };
    void poll();
    const timer = setInterval(() => void poll(), STATUS_EVERY_MS);
    return () => {
      cancelled = true;
      stop?.();
      ac.abort();
      clearInterval(timer);
      const st = api.getState();
      st.setStats(null);
      if (mine && st.status === mine && !failedToStart) st.setStatus({ text: 'Live view off.', kind: 'info' });
    };
  }, [live, flowId, api]);
}
