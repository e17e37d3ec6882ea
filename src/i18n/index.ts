import { readdirSync, readFileSync } from 'node:fs';

// The texts people read (portal pages, notices), one catalogue file per language in locales/.
// English is the reference: another language is one more file with the same keys.

const folder = new URL('./locales/', import.meta.url);

export const CATALOGUES: Readonly<Record<string, Readonly<Record<string, string>>>> = Object.fromEntries(
  readdirSync(folder)
    .filter((f) => f.endsWith('.json'))
    .map((f) => [f.slice(0, -'.json'.length), JSON.parse(readFileSync(new URL(f, folder), 'utf8'))]),
);

export const LANGUAGES = Object.keys(CATALOGUES).sort();
export const DEFAULT_LANGUAGE = 'en';

export type Translate = (key: string, vars?: Record<string, string | number>) => string;

export function translator(language: string): Translate {
  const catalogue = CATALOGUES[language] ?? CATALOGUES[DEFAULT_LANGUAGE]!;
  return (key, vars = {}) => {
    const text = catalogue[key] ?? CATALOGUES[DEFAULT_LANGUAGE]![key];
    if (text === undefined) throw new Error(`no text for ${key}`);
    return text.replace(/\{(\w+)\}/g, (_, name: string) => String(vars[name] ?? `{${name}}`));
  };
}

/** The reader's language: their explicit choice, else the best of Accept-Language, else the message's. */
export function chooseLanguage(input: {
  chosen?: string | undefined;
  acceptLanguage?: string | undefined;
  fallback?: string | undefined;
}): string {
  if (input.chosen && CATALOGUES[input.chosen]) return input.chosen;
  const accepted = (input.acceptLanguage ?? '')
    .split(',')
    .map((part) => {
      const [tag = '', ...params] = part.trim().split(';');
      const q = params.map((p) => /^\s*q=([\d.]+)/.exec(p)?.[1]).find(Boolean);
      return { language: tag.toLowerCase().split('-')[0]!, q: q ? Number(q) : 1 };
    })
    .filter((a) => a.q > 0 && CATALOGUES[a.language])
    .sort((a, b) => b.q - a.q);
  if (accepted[0]) return accepted[0].language;
  return input.fallback && CATALOGUES[input.fallback] ? input.fallback : DEFAULT_LANGUAGE;
}

/** A date as the reader's language writes it, in UTC (the server does not know their zone). */
export function formatDate(date: Date, language: string, withTime = false): string {
  return (
    new Intl.DateTimeFormat(language, {
      dateStyle: 'long',
      ...(withTime ? { timeStyle: 'short' } : {}),
      timeZone: 'UTC',
    }).format(date) + (withTime ? ' UTC' : '')
  );
}

export function formatSize(bytes: number, language: string): string {
  const units = ['byte', 'kilobyte', 'megabyte'] as const;
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return new Intl.NumberFormat(language, {
    style: 'unit',
    unit: units[unit],
    unitDisplay: unit === 0 ? 'long' : 'short',
    maximumFractionDigits: unit === 0 ? 0 : 1,
  }).format(value);
}
