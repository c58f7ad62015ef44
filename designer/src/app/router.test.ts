import { describe, expect, it } from 'vitest';
import { parseHash } from './router';

describe('parseHash', () => {
  it('splits the path and decodes its parts', () => {
    const r = parseHash('#/flows/boiler%2F7');
    expect(r.parts).toEqual(['flows', 'boiler/7']);
  });
  it('reads the query after ?', () => {
    const r = parseHash('#/alarms?device=d1&status=active');
    expect(r.parts).toEqual(['alarms']);
    expect(r.query.get('device')).toBe('d1');
    expect(r.query.get('status')).toBe('active');
  });
  it('gives no parts for an empty hash', () => {
    expect(parseHash('').parts).toEqual([]);
    expect(parseHash('#/').parts).toEqual([]);
  });
});
