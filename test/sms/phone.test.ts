import assert from 'node:assert/strict';
import { test } from 'node:test';
import { normalizePhone, SmsError } from '../../src/sms/index.ts';

test('numbers written with spaces, dashes, dots and parentheses become E.164', () => {
  const cases: [string, string][] = [
    ['+15550100199', '+15550100199'],
    ['+1 (555) 010-0199', '+15550100199'],
    ['  +44 20 7946 0958  ', '+442079460958'],
    ['+33.1.23.45.67.89', '+33123456789'],
    ['+49-30-901820', '+4930901820'],
    ['+61 (2) 9876 5432', '+61298765432'],
    ['+12345678', '+12345678'], // 8 digits: the shortest accepted
    ['+123456789012345', '+123456789012345'], // 15 digits: the longest E.164 allows
  ];
  for (const [input, expected] of cases) assert.equal(normalizePhone(input), expected, input);
});

test('anything else is refused, non-retryable, saying why', () => {
  const cases: [string, RegExp][] = [
    ['', /empty/],
    ['   ', /empty/],
    ['5550100199', /international form, starting with \+/],
    ['0044 20 7946 0958', /international form/],
    ['+1234567', /8 to 15 digits after the \+, not 7/],
    ['+1234567890123456', /8 to 15 digits after the \+, not 16/],
    ['+0 555 010 0199', /country code never starts with 0/],
    ['+1 555 010 0199 ext 12', /found "e"/],
    ['+1 555 010 0199;x', /found ";"/],
    ['+1/555/010/0199', /found "\/"/],
    ['++15550100199', /found "\+"/],
    ['+1 555 ٠١٠ 0199', /found "٠"/], // Arabic-Indic digits are not guessed at
    ['+44 (0)20 7946 0958', /\(0\) national prefix/],
    ['+1 (555 010 0199', /parentheses do not match/],
    ['+1 555) 010 (0199', /parentheses do not match/],
    ['+1 ((555)) 0100199', /parentheses do not match/],
    [`+1${' 5'.repeat(40)}`, /longer than 64/],
  ];
  for (const [input, message] of cases)
    assert.throws(
      () => normalizePhone(input),
      (err: unknown) => {
        assert.ok(err instanceof SmsError, input);
        assert.equal(err.code, 'sms_invalid_number');
        assert.equal(err.retryable, false);
        assert.match(err.message, /^The phone number is not valid: /);
        assert.match(err.message, message, input);
        return true;
      },
    );
});
