import { SmsError } from './errors.ts';

// E.164: `+`, a country code (never starting with 0), at most 15 digits in all. Written numbers
// carry spaces, dashes, dots and parentheses; those go, anything else is refused rather than
// guessed at (no national numbers without a country code, no `00` prefix, no extensions).

const MIN_DIGITS = 8;
const MAX_DIGITS = 15;
const MAX_INPUT = 64;

const invalid = (reason: string) =>
  new SmsError('sms_invalid_number', `The phone number is not valid: ${reason}.`, { retryable: false });

/** `+1 (555) 010-0199` → `+15550100199`; throws a non-retryable SmsError for anything else. */
export function normalizePhone(input: string): string {
  if (typeof input !== 'string') throw invalid('it must be text');
  const text = input.trim();
  if (text === '') throw invalid('it is empty');
  if (text.length > MAX_INPUT) throw invalid(`it is longer than ${MAX_INPUT} characters`);
  if (!text.startsWith('+'))
    throw invalid('write it in international form, starting with + and the country code (+44 20 7946 0958)');
  const rest = text.slice(1);
  if (/\(\s*0\s*\)/.test(rest))
    throw invalid('leave out the (0) national prefix after the country code (+44 20 7946 0958)');
  const stray = /[^0-9 \t\u00a0\u202f().-]/.exec(rest);
  if (stray)
    throw invalid(
      `only digits, spaces, dashes, dots and parentheses may follow the + (found ${JSON.stringify(stray[0])})`,
    );
  if (!parenthesesBalanced(rest)) throw invalid('its parentheses do not match');
  const digits = rest.replace(/\D/g, '');
  if (digits.length < MIN_DIGITS || digits.length > MAX_DIGITS)
    throw invalid(`it must have ${MIN_DIGITS} to ${MAX_DIGITS} digits after the +, not ${digits.length}`);
  if (digits.startsWith('0')) throw invalid('a country code never starts with 0');
  return `+${digits}`;
}

function parenthesesBalanced(text: string): boolean {
  let depth = 0;
  for (const ch of text) {
    if (ch === '(') depth++;
    else if (ch === ')' && --depth < 0) return false;
    if (depth > 1) return false;
  }
  return depth === 0;
}
