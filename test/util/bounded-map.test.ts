import t from 'tap';
import { BoundedMap } from '../../src/util/bounded-map.js';

t.test('insertion order: the first inserted goes first, however often it is read', async (t) => {
  const m = new BoundedMap<string, number>(2);
  m.set('a', 1);
  m.set('b', 2);
  t.equal(m.get('a'), 1);
  m.set('c', 3);
  t.same([m.has('a'), m.has('b'), m.has('c')], [false, true, true]);
  t.equal(m.size, 2);
  m.set('b', 20); // set again: the newest
  m.set('d', 4);
  t.same([m.get('b'), m.has('c'), m.get('d')], [20, false, 4]);
});

t.test('recent-use order: a read entry becomes the newest', async (t) => {
  const m = new BoundedMap<string, number>(2, 'recent-use');
  m.set('a', 1);
  m.set('b', 2);
  t.equal(m.get('a'), 1);
  m.set('c', 3);
  t.same([m.has('a'), m.has('b'), m.has('c')], [true, false, true]);
});

t.test('getOrSet keeps what make returns, null included, and nothing when make throws', async (t) => {
  const m = new BoundedMap<string, string | null>(4);
  let made = 0;
  const make = (v: string | null) => () => {
    made++;
    return v;
  };
  t.equal(m.getOrSet('x', make('X')), 'X');
  t.equal(m.getOrSet('x', make('other')), 'X', 'kept');
  t.equal(m.getOrSet('n', make(null)), null);
  t.equal(m.getOrSet('n', make('other')), null, 'a kept null is a hit');
  t.equal(made, 2);
  t.throws(() =>
    m.getOrSet('e', () => {
      throw new Error('no');
    }),
  );
  t.notOk(m.has('e'), 'a failed make keeps nothing');
  t.equal(m.delete('x'), true);
  t.equal(m.get('x'), undefined);
});

t.test('a limit below one is refused', async (t) => {
  t.throws(() => new BoundedMap(0), RangeError);
  t.throws(() => new BoundedMap(1.5), RangeError);
});
