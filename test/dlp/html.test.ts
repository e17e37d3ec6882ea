import assert from 'node:assert/strict';
import { test } from 'node:test';
import { htmlToText, scanMessage } from '../../src/dlp/index.ts';

const NOW = { now: new Date('2026-01-15T00:00:00Z') };

function kinds(html: string): Record<string, number> {
  const result = scanMessage({ html }, NOW);
  return Object.fromEntries(result.findings.map((f) => [f.kind, f.count]));
}

test('inline tags join their text; blocks and <br> break lines; whitespace collapses', () => {
  assert.equal(htmlToText('<p>SSN <b>212</b>-45-<i>6789</i></p>').trim(), 'SSN 212-45-6789');
  assert.equal(htmlToText('a<br>b<div>c</div>d').replace(/\n+/g, '|'), 'a|b|c|d');
  assert.equal(htmlToText('<span>Jan\n      2,\n 1980</span>'), 'Jan 2, 1980');
});

test('script, style and template contents are dropped; comments are kept as text', () => {
  const text = htmlToText(
    '<style>p{color:red}</style><script>var ssn="212-45-6789"</script><template>x</template>' +
      '<!--[if mso]><p>Outlook only</p><![endif]--><p>visible</p><SCRIPT type="x">y</SCRIPT>z',
  );
  assert.equal(text.replace(/\s+/g, ' ').trim(), 'Outlook only visible z');
});

test('character references are decoded, named and numeric', () => {
  assert.equal(
    htmlToText('a&amp;b&lt;c&gt; &quot;d&quot; &#65;&#x42; &ndash;&nbsp;&unknown;'),
    'a&b<c> "d" AB - &unknown;',
  );
  assert.equal(htmlToText('&#0; &#xD800; &#1114112;'), '\uFFFD \uFFFD \uFFFD');
});

test('alt, title and data-* attributes and tel: links are scanned', () => {
  assert.deepEqual(kinds('<img src="chart.png" alt="MRN 12345678">'), { mrn: 1 });
  assert.deepEqual(kinds('<span title="DOB: 01/02/1980">hover</span>'), { date_of_birth: 1 });
  assert.deepEqual(kinds('<div data-mrn="12345678">record</div>'), { mrn: 1 });
  assert.deepEqual(kinds('<a href="tel:+12125550299">Call the patient</a>'), { phone: 1 });
  assert.deepEqual(kinds('<input type=hidden name=x value="SSN 212-45-6789">'), { us_ssn: 1 });
  // other attributes are not text
  assert.deepEqual(kinds('<a href="https://example.com/orders/212-45-6789">order</a>'), {});
});

test('PHI split across tags and entities is found', () => {
  assert.deepEqual(kinds('<p>SSN: <span>212</span>&#45;<span>45</span>&#8209;6789</p>'), { us_ssn: 1 });
  assert.deepEqual(kinds('<p><b>DOB:</b></p><p><i>01/02/1980</i></p>'), { date_of_birth: 1 });
  assert.deepEqual(kinds('<td>Member&nbsp;ID</td><td>XYZ123456789</td>'), { insurance_member_id: 1 });
  assert.deepEqual(kinds('SSN 212-45-&#8203;6789'), { us_ssn: 1 });
});

test('an HTML table with a header row counts every row', () => {
  const rows = [
    ['Doe', '01/02/1980', '12345678'],
    ['Roe', '03/04/1975', '23456789'],
    ['Poe', '05/06/1990', '34567890'],
  ];
  const html = `<table><tr><th>Name</th><th>DOB</th><th>MRN</th></tr>${rows
    .map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join('')}</tr>`)
    .join('\n')}</table>`;
  assert.deepEqual(kinds(html), { mrn: 3, date_of_birth: 3 });
  // a key/value table keeps its own row context
  const kv = '<table><tr><td>DOB</td><td>01/02/1980</td></tr><tr><td>MRN</td><td>12345678</td></tr></table>';
  assert.deepEqual(kinds(kv), { mrn: 1, date_of_birth: 1 });
});

test('malformed HTML does not throw and keeps text', () => {
  for (const html of [
    '<',
    '<p',
    '<a href="unclosed',
    '<!--',
    '<script>',
    '</',
    '<!DOCTYPE',
    '<![CDATA[x',
    'a < b > c',
  ]) {
    assert.equal(typeof htmlToText(html), 'string');
  }
  assert.equal(htmlToText('a < b > c'), 'a < b > c');
  assert.equal(htmlToText('<![CDATA[SSN 212-45-6789]]>'), 'SSN 212-45-6789');
});
