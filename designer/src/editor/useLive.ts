// The live view: while on, the trace WebSocket feeds edge counts and the
// debug log, and the flow's status is polled for node badges.
import { useEffect } from 'react';
import { flowStatus } from '../api/flows';
import { openTrace } from '../api/trace';
import { errorText } from './Dialog';
import { useEd, useEdApi } from './store';

export const STATUS_EVERY_MS = 2000;

export function useLive() {
  const api = useEdApi();
  const live = useEd((s) => s.live);
  const flowId = useEd((s) => s.flowId);

  useEffect(() => {
    if (!live) return;
    let stop: (() => void) | null = null;
    let cancelled = false;
    const s = api.getState();
    s.resetCounts();
    s.setStatus({ text: 'Live view: connecting…', kind: 'busy' });
    openTrace(flowId, {
      // Events flow once the server has subscribed the socket, not when it opens.
      onNotice: (n) => {
        if (n.type === 'subscribed') api.getState().setStatus({ text: 'Live view on.', kind: 'info' });
        else if (n.type === 'dropped') api.getState().setStatus({ text: `Live view: ${n.count} events lost (the browser read too slowly).`, kind: 'info' });
      },
      onEvent: (ev) => {
        const st = api.getState();
        if (ev.direction === 'out' && ev.relation) st.addCount(`${ev.node}|${ev.relation}`);
        if (!st.paused) st.pushLog(ev);
      },
      onClose: (reason) => api.getState().setStatus({ text: `Live view closed: ${reason}`, kind: 'error' }),
      onError: (m) => api.getState().setStatus({ text: m, kind: 'error' }),
    }).then((close) => {
      if (cancelled) close();
      else stop = close;
    }, (e: unknown) => {
      api.getState().setStatus({ text: errorText(e), kind: 'error' });
      api.getState().setLive(false);
    });

    const ac = new AbortController();
    const poll = async () => {
      try {
        const st = await flowStatus(flowId, ac.signal);
        api.getState().setStats(st.deployed ? st.stats ?? null : null);
        if (!st.deployed && !ac.signal.aborted) api.getState().setStatus({ text: 'Live view: the flow is not deployed; events start when it is.', kind: 'info' });
      } catch (e) {
        if (!ac.signal.aborted) api.getState().setStatus({ text: errorText(e), kind: 'error' });
      }
    };
    void poll();
    const timer = setInterval(() => void poll(), STATUS_EVERY_MS);
    return () => {
      cancelled = true;
      stop?.();
      ac.abort();
      clearInterval(timer);
      api.getState().setStats(null);
    };
  }, [live, flowId, api]);
}
