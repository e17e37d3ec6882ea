/**
 * The detectors. Each finds candidates with a regular expression whose every quantifier is
 * bounded (so each attempt costs a constant and a scan is linear in the text), then validates
 * the candidate (checksums, ranges) and, where the format alone is too common, asks for context:
 * a keyword within CONTEXT_WINDOW characters before the value, case-insensitive, across lines
 * (ICD-10 codes also accept a wider clinical window when dotted, and continue lists).
 */
import type { DlpFinding, DlpKind } from './types.ts';

/** Characters before a value searched for its context keyword. */
export const CONTEXT_WINDOW = 40;
/** An ICD-10 code this close after an accepted one continues a list ("Dx: E11.9 ..., I10 ..."). */
const ICD_LIST_GAP = 160;
/** A dotted ICD-10 code ("E11.65") is distinctive enough for clinical words this far before it. */
const ICD_WIDE_WINDOW = 300;

export interface DetectContext {
  minYear: number;
  maxYear: number;
}

type Emit = (kind: DlpKind, start: number, end: number, phi: boolean) => void;

function windowBefore(text: string, start: number, size = CONTEXT_WINDOW): string {
  return text.slice(Math.max(0, start - size), start);
}

function hasContext(text: string, start: number, re: RegExp, size = CONTEXT_WINDOW): boolean {
  return re.test(windowBefore(text, start, size));
}

/** End offset of the last match of a global regex in s, or -1. */
function lastMatchEnd(re: RegExp, s: string): number {
  re.lastIndex = 0;
  let end = -1;
  for (let m = re.exec(s); m !== null; m = re.exec(s)) {
    end = m.index + m[0].length;
    if (m[0].length === 0) re.lastIndex++;
  }
  return end;
}

/**
 * Calls `fn` for each match of `value` (global; lookbehind of at most four characters; matches
 * shorter than 40 characters) that starts between `before` characters before and `after`
 * characters after the start of a `keyword` match (global). For values that only count with
 * context, this costs a scan for the keywords plus the windows around them, not a scan for
 * values everywhere. Matches are reported once, in order, with their index in `text`.
 */
function forEachNear(
  text: string,
  keyword: RegExp,
  before: number,
  after: number,
  value: RegExp,
  fn: (m: RegExpExecArray, index: number) => void,
): void {
  const ranges: number[] = [];
  keyword.lastIndex = 0;
  for (let k = keyword.exec(text); k !== null; k = keyword.exec(text)) {
    const a = Math.max(0, k.index - before);
    const b = k.index + after;
    const n = ranges.length;
    if (n > 0 && a <= ranges[n - 1]!) ranges[n - 1] = Math.max(ranges[n - 1]!, b);
    else ranges.push(a, b);
    if (k[0].length === 0) keyword.lastIndex++;
  }
  let reported = 0;
  for (let r = 0; r < ranges.length; r += 2) {
    const from = Math.max(ranges[r]!, reported);
    const to = ranges[r + 1]!;
    if (from > to) continue;
    const sliceStart = Math.max(0, from - 4);
    const sub = text.slice(sliceStart, to + 48);
    value.lastIndex = from - sliceStart;
    for (let m = value.exec(sub); m !== null && sliceStart + m.index <= to; m = value.exec(sub)) {
      const index = sliceStart + m.index;
      reported = index + m[0].length;
      fn(m, index);
    }
  }
}

function isDigit(c: string | undefined): boolean {
  return c !== undefined && c >= '0' && c <= '9';
}

/** No digit group within two characters of a space-separated match (tables of numbers). */
function isolated(text: string, start: number, end: number): boolean {
  const b1 = text[start - 1];
  const b2 = text[start - 2];
  const a1 = text[end];
  const a2 = text[end + 1];
  if ((b1 === ' ' || b1 === '\t') && (isDigit(b2) || (b2 === ' ' && isDigit(text[start - 3])))) return false;
  if ((a1 === ' ' || a1 === '\t') && (isDigit(a2) || (a2 === ' ' && isDigit(text[end + 2])))) return false;
  return true;
}

// Patient context: makes a phone number or address PHI by itself.
// Not "member" ("Member Services: 1-800-..."), not "resident" (a junior doctor), not "home" alone
// ("Home | About | Contact").
const PATIENT_CONTEXT =
  /\b(?:patient|pt|guardian|parent|mother|father|spouse|emergency contact|next of kin|caregiver|home ?(?:phone|address|number|tel)|resid(?:es|ence|ing)|lives)\b|\bhome ?[#:]/i;

// ---------------------------------------------------------------------------------------------
// US Social Security number (and the SSN-based Medicare HICN, "123-45-6789A")

const SSN = /(?<![\w-]|\d[.,])(\d{3})([ .-]?)(\d{2})([ .-]?)(\d{4})(?:[A-Z]\d?)?(?![\w-]|[.,]\d)/g;
const SSN_CONTEXT =
  /ssn(?![a-z])|\bs\.s\.n|\bss ?#|\bss ?no\b|\bsoc(?:ial)?\.? ?sec(?:urity)?|\bhicn?\b|\bssa\b|\btaxpayer/i;
/**
 * Numbers printed on sample cards, in advertisements or as placeholders (the Woolworth wallet
 * card, 219-09-9999, a number its owner advertised, 123-45-6789): not a patient's SSN.
 */
const SSN_NOT_ISSUED = new Set(['078051120', '219099999', '457555462', '123456789']);

export function validSsn(area: string, group: string, serial: string): boolean {
  if (area === '000' || area === '666' || area >= '900') return false;
  if (group === '00' || serial === '0000') return false;
  const all = area + group + serial;
  if (SSN_NOT_ISSUED.has(all)) return false;
  return !/^(\d)\1{8}$/.test(all);
}

/**
 * `bare` false: the dashed and the isolated spaced forms, which need no context. `bare` true:
 * nine digits or other separators with an SSN keyword before them; run after the keyword-anchored
 * detectors, so "SSN 212-45-6789, MRN 234567891" gives an MRN for the second number.
 */
function detectSsn(text: string, emit: Emit, bareForms: boolean): void {
  SSN.lastIndex = 0;
  for (let m = SSN.exec(text); m !== null; m = SSN.exec(text)) {
    const [whole, area, s1, group, s2, serial] = m as unknown as [
      string,
      string,
      string,
      string,
      string,
      string,
    ];
    if (!validSsn(area, group, serial)) continue;
    const start = m.index;
    const end = start + whole.length;
    let bare = true;
    if (s1 === '-' && s2 === '-') bare = false;
    else if (s1 === ' ' && s2 === ' ' && isolated(text, start, end)) bare = false;
    if (bare !== bareForms) continue;
    if (bare && !hasContext(text, start, SSN_CONTEXT)) continue;
    emit('us_ssn', start, end, true);
  }
}

// ---------------------------------------------------------------------------------------------
// Medicare Beneficiary Identifier (CMS format, 11 characters, optionally dashed 4-3-4)

const MBI_A = '[AC-HJKMNP-RT-Y]';
const MBI_AN = '[AC-HJKMNP-RT-Y0-9]';
const MBI = new RegExp(
  `(?<![A-Za-z0-9_-])[1-9]${MBI_A}${MBI_AN}\\d(-?)${MBI_A}${MBI_AN}\\d(-?)${MBI_A}${MBI_A}\\d\\d(?![A-Za-z0-9_]|-[A-Za-z0-9])`,
  'gi',
);
const MBI_CONTEXT = /medicare|\bmbi\b|\bbeneficiary|\bhicn?\b|\bcms\b/i;

function detectMbi(text: string, emit: Emit): void {
  MBI.lastIndex = 0;
  for (let m = MBI.exec(text); m !== null; m = MBI.exec(text)) {
    if (m[1] !== m[2]) continue; // dashes in both places or in neither
    const lower = /[a-z]/.test(m[0]);
    if (lower && !hasContext(text, m.index, MBI_CONTEXT)) continue;
    emit('medicare_mbi', m.index, m.index + m[0].length, true);
  }
}

// ---------------------------------------------------------------------------------------------
// NPI: 10 digits starting 1 or 2, Luhn check over "80840" + the number, with context

const NPI = /(?<![\w-]|\d[.,])[12]\d{9}(?![\w-]|[.,]\d)/g;
const NPI_CONTEXT = /npi(?![a-z])|\bnational provider|\bprovider (?:id|#|no\b|number)|\bprescriber id/i;

export function validNpi(digits: string): boolean {
  if (!/^[12]\d{9}$/.test(digits)) return false;
  // Luhn over the first nine digits, doubling from the rightmost; 24 accounts for the "80840" prefix.
  let sum = 24;
  for (let i = 0; i < 9; i++) {
    let d = digits.charCodeAt(8 - i) - 48;
    if (i % 2 === 0) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return (10 - (sum % 10)) % 10 === digits.charCodeAt(9) - 48;
}

function detectNpi(text: string, emit: Emit): void {
  NPI.lastIndex = 0;
  for (let m = NPI.exec(text); m !== null; m = NPI.exec(text)) {
    if (!validNpi(m[0]) || !hasContext(text, m.index, NPI_CONTEXT)) continue;
    emit('npi', m.index, m.index + 10, false);
  }
}

// ---------------------------------------------------------------------------------------------
// DEA registration number: two letters, seven digits with a checksum, and the word DEA nearby

const DEA = /(?<![\w-])[A-Z][A-Z9]\d{7}(?![\w-])/gi;
const DEA_CONTEXT = /\bdea\b/i;

export function validDea(value: string): boolean {
  const d = value.slice(2);
  if (!/^\d{7}$/.test(d)) return false;
  const n = (i: number) => d.charCodeAt(i) - 48;
  const sum = n(0) + n(2) + n(4) + 2 * (n(1) + n(3) + n(5));
  return sum % 10 === n(6);
}

function detectDea(text: string, emit: Emit): void {
  DEA.lastIndex = 0;
  for (let m = DEA.exec(text); m !== null; m = DEA.exec(text)) {
    if (!validDea(m[0]) || !hasContext(text, m.index, DEA_CONTEXT)) continue;
    emit('dea_number', m.index, m.index + m[0].length, false);
  }
}

// ---------------------------------------------------------------------------------------------
// Dates: of birth, and of admission, discharge, service, surgery or death (context decides)

const MON =
  'jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?';
const DATE = new RegExp(
  '(?<![\\w/.-])(?:' +
    // 1: 01/02/1980, 1-2-80, 01.02.1980 (month/day or day/month)
    '(\\d{1,2})([/.-])(\\d{1,2})\\2(\\d{4}|\\d{2})' +
    // 5: 1980-01-02, 1980/1/2
    '|(\\d{4})([/.-])(\\d{1,2})\\6(\\d{1,2})' +
    // 9: 2 January 1980, 02-Jan-1980, 2nd of Jan, 1980
    `|(\\d{1,2})(?:st|nd|rd|th)?[ -](?:of )?(${MON})\\.?(?:[ -]|, ?)(\\d{4}|'?\\d{2})` +
    // 12: January 2, 1980, Jan. 2nd 1980, Jan-02-1980
    `|(${MON})\\.?[ -](\\d{1,2})(?:st|nd|rd|th)?(?:, ?| |-)(\\d{4})` +
    // 15: 19800102 or 01021980 (context only, like every date)
    '|(\\d{8})' +
    ')(?!\\w|[/.-]\\d)',
  'gi',
);
// "birthday" only as a label ("Birthday: 01/02/1980"), not in "Happy birthday! Offer ends 01/31".
const DOB_CONTEXT = /dob(?![a-z])|\bd\.o\.b|\bborn\b|birth(?!day)|birthday["']?\s{0,2}[:=]/gi;
const DOB_AFTER = /^[\s)(\],:;-]{0,3}(?:dob(?![a-z])|d\.o\.b|date of birth|birth ?date)/i;
const CLINICAL_DATE_CONTEXT =
  /\badmi(?:t|ts|tted|ssion)\b|\bdischarg(?:e|ed)\b|\bdate of (?:death|service|surgery|procedure|admission|discharge|injury)\b|\b(?:service|surgery|procedure|death) date\b|\bdod\b|\bdos\b|\bdeceased\b|\bdied\b|\bexpired on\b/gi;

const MONTHS: Record<string, number> = {
  jan: 1,
  feb: 2,
  mar: 3,
  apr: 4,
  may: 5,
  jun: 6,
  jul: 7,
  aug: 8,
  sep: 9,
  oct: 10,
  nov: 11,
  dec: 12,
};

function validYmd(y: number, m: number, d: number, ctx: DetectContext, twoDigitYear = false): boolean {
  if (m < 1 || m > 12 || d < 1 || d > 31) return false;
  if (!twoDigitYear && (y < ctx.minYear || y > ctx.maxYear)) return false;
  const leap = twoDigitYear ? true : (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
  const days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m - 1]!;
  return d <= days;
}

function validDate(m: RegExpExecArray, ctx: DetectContext): boolean {
  if (m[1] !== undefined) {
    const a = Number(m[1]);
    const b = Number(m[3]);
    const two = m[4]!.length === 2;
    const y = Number(m[4]);
    return validYmd(y, a, b, ctx, two) || validYmd(y, b, a, ctx, two);
  }
  if (m[5] !== undefined) return validYmd(Number(m[5]), Number(m[7]), Number(m[8]), ctx);
  if (m[9] !== undefined) {
    const y = m[11]!;
    return validYmd(
      Number(y.replace("'", '')),
      MONTHS[m[10]!.slice(0, 3).toLowerCase()]!,
      Number(m[9]),
      ctx,
      y.length < 4,
    );
  }
  if (m[12] !== undefined)
    return validYmd(Number(m[14]), MONTHS[m[12].slice(0, 3).toLowerCase()]!, Number(m[13]), ctx);
  const s = m[15]!;
  const n = (i: number, len: number) => Number(s.slice(i, i + len));
  return (
    validYmd(n(0, 4), n(4, 2), n(6, 2), ctx) ||
    validYmd(n(4, 4), n(0, 2), n(2, 2), ctx) ||
    validYmd(n(4, 4), n(2, 2), n(0, 2), ctx)
  );
}

const DATE_KEYWORDS = new RegExp(`${DOB_CONTEXT.source}|${CLINICAL_DATE_CONTEXT.source}`, 'gi');

function detectDates(text: string, ctx: DetectContext, emit: Emit): void {
  // A keyword introduces the first date after it only: in "DOB: 01/02/1980. Seen 03/04/2024"
  // the second date is not a date of birth.
  let previousEnd = 0;
  // Dates are looked for only near a keyword: up to CONTEXT_WINDOW after one, or just before one
  // for "01/02/1980 (DOB)".
  forEachNear(text, DATE_KEYWORDS, 32, CONTEXT_WINDOW, DATE, (m, start) => {
    if (!validDate(m, ctx)) return;
    const end = start + m[0].length;
    const before = text.slice(Math.max(previousEnd, start - CONTEXT_WINDOW), start);
    previousEnd = end;
    const dob = lastMatchEnd(DOB_CONTEXT, before);
    const clinical = lastMatchEnd(CLINICAL_DATE_CONTEXT, before);
    if (dob >= 0 || clinical >= 0) {
      emit(dob >= clinical ? 'date_of_birth' : 'clinical_date', start, end, true);
    } else if (DOB_AFTER.test(text.slice(end, end + 20))) {
      emit('date_of_birth', start, end, true);
    }
  });
}

// ---------------------------------------------------------------------------------------------
// ICD-10-CM codes, with diagnosis context (or following another accepted code in a list)

const ICD = /(?<![\w.\-/])([A-Z])(\d)([0-9A-Z])(?:(\.)([0-9A-Z]{1,4})|([0-9A-Z]{1,4}))?(?![\w-]|\.\w)/gi;
const ICD_CONTEXT =
  /icd|\bdiag|\bd?dx\b|\bproblem list|\bassessment|\bimpression|\bcomorbid|\bcondition code/i;
const ICD_WIDE_CONTEXT =
  /icd|diag|\bd?dx\b|problem|assessment|impression|\bplan\b|patient|\bpt\b|history|\bpmh\b|diseas|disorder|syndrome|chronic|acute|mellitus|hypertension|infection|\bclinic|medical|condition|treat|symptom|referr|hospital|admi(?:t|ssion)|discharg/i;
/** Categories that take a letter in third position. */
const ICD_LETTER_CATEGORIES = new Set(['C4A', 'C7A', 'C7B', 'D3A', 'M1A', 'O9A', 'Z3A']);
/** Three-character look-alikes that are not ICD-10-CM categories: vitamin B12, vertebrae T10-T12. */
const ICD_LOOKALIKES = new Set(['B12', 'T10', 'T11', 'T12']);

export function validIcd10(code: string): boolean {
  const c = code.toUpperCase();
  const m = /^([A-Z])(\d)([0-9A-Z])\.?([0-9A-Z]{0,4})$/.exec(c);
  if (!m) return false;
  const category = c.slice(0, 3);
  if (/[A-Z]/.test(m[3]!) && !ICD_LETTER_CATEGORIES.has(category)) return false;
  if (m[1] === 'U' && m[2] === '9') return false;
  if (!m[4] && ICD_LOOKALIKES.has(category)) return false;
  return true;
}

function detectIcd10(text: string, emit: Emit): void {
  ICD.lastIndex = 0;
  let lastEnd = -1;
  for (let m = ICD.exec(text); m !== null; m = ICD.exec(text)) {
    const code = m[0];
    const dotted = m[4] !== undefined;
    const first = m[1]!;
    if (first !== first.toUpperCase() && !dotted) continue; // "e11.9" yes, "e119" no
    if (!validIcd10(code)) continue;
    const start = m.index;
    const inList = lastEnd >= 0 && start - lastEnd <= ICD_LIST_GAP;
    if (
      !inList &&
      !hasContext(text, start, ICD_CONTEXT) &&
      !(dotted && hasContext(text, start, ICD_WIDE_CONTEXT, ICD_WIDE_WINDOW))
    ) {
      continue;
    }
    lastEnd = start + code.length;
    emit('icd10', start, lastEnd, true);
  }
}

// ---------------------------------------------------------------------------------------------
// Identifiers introduced by a keyword: medical record numbers and insurance ids

const MRN_KEY =
  /\b(?:mrns?|mr ?#|mr ?no|med(?:ical)?[ _.-]?rec(?:ord)?s?(?:[ _-]?(?:number|num|nbr|no|id|#))?|patient[ _-]?(?:id(?:entifier)?|number|num|nbr|no|#|account(?:[ _-]?(?:number|no|#))?)|pt\.?[ _-]?(?:id|#|no|number|acct)|chart[ _-]?(?:#|no|number|num|id)|ehr[ _-]?(?:id|#|number)|emr[ _-]?(?:id|#|number)|encounter[ _-]?(?:id|#|no|number)|visit[ _-]?(?:id|#|number))(?![a-z])/gi;
const INSURANCE_KEY =
  /\b(?:member(?:ship)?|subscriber|beneficiary|enrollee|insured'?s?|policy(?:holder)?|group|insurance|ins\.?|medicaid|medicare|medi-cal|health[ _-]?plan|cardholder)[ _-]?(?:id(?:entification)?(?:[ _-]?(?:number|no|#))?|#|no|nr|num(?:ber)?|nbr)(?![a-z])/gi;
const SEP = `[\\s:#=()"'*\\[\\]{}<>.,\\-]`;
const FILLER =
  '(?:is|was|of|for|the|this|that|patient|pt|on|file|number|num|nbr|no|id|value|card|reads|listed|below|as|a|an|our|your|their|his|her)';
const ID_GAP = new RegExp(`${SEP}{0,8}(?:${FILLER}\\b${SEP}{1,6}){0,4}`, 'iy');
const ID_TOKEN =
  /(?:[A-Z]{2,4} )?[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){2,24}(?![A-Za-z0-9_/]|[.:,]\d)/y;
const ID_LIST = /[ \t]{0,2}(?:[,;&]|and)[ \t]{0,2}/iy;

function idToken(text: string, at: number): string | null {
  ID_TOKEN.lastIndex = at;
  const t = ID_TOKEN.exec(text);
  if (!t) return null;
  const value = t[0];
  let digits = 0;
  for (let i = 0; i < value.length; i++) if (isDigit(value[i])) digits++;
  if (digits < 3) return null;
  if (/^\d{1,4}-\d{1,2}-\d{1,4}$/.test(value)) return null; // a date, not an id
  return value;
}

function detectKeywordIds(text: string, key: RegExp, kind: DlpKind, emit: Emit): void {
  key.lastIndex = 0;
  for (let k = key.exec(text); k !== null; k = key.exec(text)) {
    ID_GAP.lastIndex = k.index + k[0].length;
    ID_GAP.exec(text);
    let at = ID_GAP.lastIndex;
    let value = idToken(text, at);
    let count = 0;
    while (value !== null && count < 100) {
      emit(kind, at, at + value.length, true);
      count++;
      ID_LIST.lastIndex = at + value.length;
      if (!ID_LIST.exec(text)) break;
      const next = idToken(text, ID_LIST.lastIndex);
      if (next === null || Math.abs(next.length - value.length) > 2) break;
      at = ID_LIST.lastIndex;
      value = next;
    }
    if (count > 0) key.lastIndex = Math.max(key.lastIndex, at);
  }
}

// ---------------------------------------------------------------------------------------------
// Phone numbers (NANP)

const PHONE =
  /(?<![\w+-]|\d[.,/])(\+?1[ .-]?)?(?:\(([2-9]\d\d)\) ?|([2-9]\d\d)([ .-]))([2-9]\d\d)([ .-])(\d{4})(?![\w-]|[.,/]\d)/g;
const PHONE_BARE = /(?<![\w+-]|\d[.,])(1)?([2-9]\d\d)([2-9]\d\d)(\d{4})(?![\w-]|[.,]\d)/g;
const PHONE_E164 = /(?<![\w+-])\+1([2-9]\d\d)([2-9]\d\d)(\d{4})(?![\w-]|[.,]\d)/g;
const PHONE_CONTEXT =
  /phone|\b(?:ph|tel|telephone|cell|cellular|mobile|mob|fax|call|text|sms|whatsapp|contact|home|work)\b/gi;

export function validNanp(npa: string, nxx: string, line: string): boolean {
  if (npa[1] === '1' && npa[2] === '1') return false; // N11 service codes
  if (nxx[1] === '1' && nxx[2] === '1') return false;
  if (nxx === '555' && line >= '0100' && line <= '0199') return false; // fictional range
  return true;
}

function detectPhones(text: string, emit: Emit): void {
  PHONE.lastIndex = 0;
  for (let m = PHONE.exec(text); m !== null; m = PHONE.exec(text)) {
    const npa = m[2] ?? m[3]!;
    if (!validNanp(npa, m[5]!, m[7]!)) continue;
    const start = m.index;
    const end = start + m[0].length;
    if (m[3] !== undefined) {
      if (m[4] !== m[6]) continue; // 555-123.4567 is not a phone format
      if (m[4] === ' ' && !isolated(text, start, end)) continue;
    }
    emit('phone', start, end, hasContext(text, start, PATIENT_CONTEXT));
  }
  PHONE_E164.lastIndex = 0;
  for (let m = PHONE_E164.exec(text); m !== null; m = PHONE_E164.exec(text)) {
    if (!validNanp(m[1]!, m[2]!, m[3]!)) continue;
    emit('phone', m.index, m.index + m[0].length, hasContext(text, m.index, PATIENT_CONTEXT));
  }
  // bare digits ("Phone: 2125550299") only within the window after a phone keyword
  forEachNear(text, PHONE_CONTEXT, 0, CONTEXT_WINDOW, PHONE_BARE, (m, start) => {
    if (!validNanp(m[2]!, m[3]!, m[4]!)) return;
    emit('phone', start, start + m[0].length, hasContext(text, start, PATIENT_CONTEXT));
  });
}

// ---------------------------------------------------------------------------------------------
// US street addresses and PO boxes

const SUFFIXES = [
  'Street',
  'St',
  'Avenue',
  'Ave',
  'Av',
  'Road',
  'Rd',
  'Boulevard',
  'Blvd',
  'Lane',
  'Ln',
  'Drive',
  'Dr',
  'Court',
  'Ct',
  'Place',
  'Pl',
  'Way',
  'Parkway',
  'Pkwy',
  'Highway',
  'Hwy',
  'Circle',
  'Cir',
  'Terrace',
  'Ter',
  'Trail',
  'Trl',
  'Square',
  'Sq',
  'Plaza',
  'Plz',
  'Loop',
  'Pike',
  'Alley',
  'Crescent',
  'Expressway',
  'Expy',
  'Freeway',
  'Fwy',
  'Turnpike',
  'Tpke',
];
const STATES =
  'AL|AK|AZ|AR|CA|CO|CT|DE|DC|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|MS|MO|MT|NE|NV|NH|NJ|NM|NY|NC|ND|OH|OK|OR|PA|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY|PR|VI|GU|AS|MP';
const STREET_NUMBER = `(?<![\\w\\-.,/#$:])([1-9]\\d{0,5}(?:[A-Z](?![A-Za-z])|-\\d{1,5}| 1/2)?)`;
const NAME_WORD = `(?:[A-Z][A-Za-z'\\-]{0,24}\\.?|\\d{1,3}(?:st|nd|rd|th))`;
const UNIT = `(?:,? {1,2}(?:apt|apartment|suite|ste|unit|bldg|fl|floor|rm|room|#)\\.? {0,2}#? ?[A-Z0-9\\-]{1,6})?`;
const CITY_STATE_ZIP = `(?:(?:, ?| {1,2}|\\r?\\n)[A-Z][A-Za-z.'\\-]{1,24}(?: [A-Z][A-Za-z.'\\-]{1,24}){0,3},? {1,2}(?:${STATES})(?: {1,2}\\d{5}(?:-\\d{4})?)?)?`;
const STREET = new RegExp(
  `${STREET_NUMBER}((?: {1,2}${NAME_WORD}){1,5}) {1,2}(${SUFFIXES.join('|')})\\.?(?: (?:N|S|E|W|NE|NW|SE|SW)\\.?)?${UNIT}${CITY_STATE_ZIP}(?![\\w])`,
  'gi',
);
// Without a street suffix ("123 Broadway, New York, NY 10001"): capitalised, with state and ZIP.
const STREET_ZIP = new RegExp(
  `(?<![\\w\\-.,/#$:])[1-9]\\d{0,5}((?: {1,2}${NAME_WORD}){1,3})(?:, ?| {0,2}\\r?\\n {0,8})[A-Z][A-Za-z.'\\-]{1,24}(?: [A-Z][A-Za-z.'\\-]{1,24}){0,3},? {1,2}(?:${STATES}) {1,2}\\d{5}(?:-\\d{4})?(?![\\w-])`,
  'g',
);
const PO_BOX = /\b(?:p\.? ?o\.?|post office) ?box {0,2}#? {0,2}\d{1,6}\b/gi;
const ADDRESS_CONTEXT = /address|\blives\b|\bresid|\bhome\b|\bmail(?:ing)? to\b/i;

/** Words that do not occur in street names but do in title-case phrases ("5 Steps To Find Your Place"). */
const NOT_STREET_WORDS = new Set(
  'to for your you my our we i it is are be how why what when that this these those with and or of the in on at by from'.split(
    ' ',
  ),
);

/** Street name words: none a stop word; `capitalised` when each starts with a capital or a digit. */
function streetWords(words: string): { ok: boolean; capitalised: boolean } {
  let capitalised = true;
  for (const w of words.trim().split(/ {1,2}/)) {
    const c = w[0];
    if (c === undefined) continue;
    if (NOT_STREET_WORDS.has(w.toLowerCase())) return { ok: false, capitalised };
    if (!(isDigit(c) || (c >= 'A' && c <= 'Z'))) capitalised = false;
  }
  return { ok: true, capitalised };
}

function detectAddresses(text: string, emit: Emit): void {
  STREET.lastIndex = 0;
  for (let m = STREET.exec(text); m !== null; m = STREET.exec(text)) {
    const start = m.index;
    const words = streetWords(m[2]!);
    if (!words.ok || (!words.capitalised && !hasContext(text, start, ADDRESS_CONTEXT))) continue;
    emit('postal_address', start, start + m[0].length, hasContext(text, start, PATIENT_CONTEXT));
  }
  STREET_ZIP.lastIndex = 0;
  for (let m = STREET_ZIP.exec(text); m !== null; m = STREET_ZIP.exec(text)) {
    if (!streetWords(m[1]!).ok) continue;
    emit('postal_address', m.index, m.index + m[0].length, hasContext(text, m.index, PATIENT_CONTEXT));
  }
  PO_BOX.lastIndex = 0;
  for (let m = PO_BOX.exec(text); m !== null; m = PO_BOX.exec(text)) {
    emit('postal_address', m.index, m.index + m[0].length, hasContext(text, m.index, PATIENT_CONTEXT));
  }
}

// ---------------------------------------------------------------------------------------------

/**
 * Runs every detector, most specific first: when two findings overlap, the earlier detector's
 * wins (an MBI is not also a member id; an SSN-shaped member id counts as an SSN).
 */
export function detectAll(text: string, ctx: DetectContext): DlpFinding[] {
  const taken = new Uint8Array(text.length);
  const out: DlpFinding[] = [];
  const emit: Emit = (kind, start, end, phi) => {
    for (let i = start; i < end; i++) if (taken[i]) return;
    taken.fill(1, start, end);
    out.push({ kind, start, end, phi });
  };
  detectMbi(text, emit);
  detectSsn(text, emit, false);
  detectNpi(text, emit);
  detectDea(text, emit);
  detectDates(text, ctx, emit);
  detectIcd10(text, emit);
  detectKeywordIds(text, MRN_KEY, 'mrn', emit);
  detectKeywordIds(text, INSURANCE_KEY, 'insurance_member_id', emit);
  detectSsn(text, emit, true);
  detectPhones(text, emit);
  detectAddresses(text, emit);
  out.sort((a, b) => a.start - b.start);
  return out;
}
