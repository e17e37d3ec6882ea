import { readFileSync } from 'node:fs';

// Password rules shared by everyone who sets a password (staff, portal accounts): NIST SP 800-63B
// rev. 4. Length, not composition: at least 15 characters when the password is the only factor,
// at least 8 with a second factor, up to 256; any characters, counted as Unicode code points after
// NFKC normalisation; common passwords (the shipped list, repeated, or padded with digits and
// symbols) and the person's own address are refused. No forced rotation.
const LIST = new URL('./common-passwords.txt', import.meta.url);

export const PASSWORD_MIN_SINGLE_FACTOR = 15;
export const PASSWORD_MIN_WITH_SECOND_FACTOR = 8;
export const PASSWORD_MAX = 256;

export type PasswordProblem = 'too_short' | 'too_long' | 'common' | 'address' | 'mismatch';

let common: Set<string> | undefined;
const commonList = () =>
  (common ??= new Set(
    readFileSync(LIST, 'utf8')
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line && !line.startsWith('#')),
  ));

/** NIST counts each Unicode code point as one character, after normalisation. */
export const normalisePassword = (password: string) => password.normalize('NFKC');
const length = (password: string) => [...password].length;

/** The listed password, repeated, or with digits and symbols around it; or one short run repeated. */
export function isCommonPassword(password: string): boolean {
  const list = commonList();
  const lower = normalisePassword(password).toLowerCase();
  const forms = new Set([lower, lower.replace(/\s+/g, '')]);
  for (const form of [...forms])
    forms.add(form.replace(/^[\p{N}\p{P}\p{S}\p{Z}]+|[\p{N}\p{P}\p{S}\p{Z}]+$/gu, ''));
  for (const form of forms) {
    if (list.has(form) || /^(.{1,3})\1+$/su.test(form)) return true;
    for (let size = 3; size <= form.length / 2; size++)
      if (
        form.length % size === 0 &&
        list.has(form.slice(0, size)) &&
        form === form.slice(0, size).repeat(form.length / size)
      )
        return true;
  }
  return false;
}

export function passwordProblem(
  password: string,
  input: { address: string; min?: number; again?: string },
): PasswordProblem | null {
  const given = normalisePassword(password);
  if (length(given) < (input.min ?? PASSWORD_MIN_SINGLE_FACTOR)) return 'too_short';
  if (length(given) > PASSWORD_MAX) return 'too_long';
  if (isCommonPassword(given)) return 'common';
  const lower = given.toLowerCase();
  const address = input.address.toLowerCase();
  const local = address.slice(0, address.lastIndexOf('@'));
  if (lower.includes(address) || (local.length >= 3 && lower.includes(local))) return 'address';
  if (input.again !== undefined && normalisePassword(input.again) !== given) return 'mismatch';
  return null;
}

/** Shorter than a password may be when it is the only factor. */
export const shortForSingleFactor = (password: string) =>
  length(normalisePassword(password)) < PASSWORD_MIN_SINGLE_FACTOR;
