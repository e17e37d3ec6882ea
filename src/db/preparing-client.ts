import pg from 'pg';

// PostgreSQL parses, analyses and plans every unnamed statement it is sent, and the statements on
// the delivery path (arrays unnested, JSON record sets, pg-boss's CTEs) cost more to plan than to
// run (docs/benchmarks.md, the third pass). A named statement is parsed
// once per connection and its plan kept, so this client names every statement that carries
// parameters (those are single statements by protocol) after its text. The names are shared by
// every connection of the process and capped, so text built on the fly cannot grow them without
// bound: past the cap a statement is sent unnamed, as before.

const MAX_NAMED = 500;
const names = new Map<string, string>();

function nameOf(text: string): string | undefined {
  let name = names.get(text);
  if (name === undefined && names.size < MAX_NAMED) {
    name = `sealpost_${names.size}`;
    names.set(text, name);
  }
  return name;
}

type Callback = (err: Error, result: pg.QueryResult) => void;

export class PreparingClient extends pg.Client {
  // pg.Pool calls query(text, values, callback); pg-boss and our own code call query(text, values).
  // One implementation for pg's many overloads: it returns what pg.Client's query returns.
  override query(config: unknown, values?: unknown, callback?: Callback): never {
    if (typeof config === 'string' && Array.isArray(values) && values.length > 0) {
      const name = nameOf(config);
      if (name) {
        const named = { name, text: config, values };
        return (callback ? super.query(named, callback) : super.query(named)) as never;
      }
    }
    // @ts-expect-error: passed through as given
    return super.query(config, values, callback) as never;
  }
}
