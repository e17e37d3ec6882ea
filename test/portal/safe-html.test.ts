import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Parser, parseDocument } from 'htmlparser2';
import { isTag, type AnyNode } from 'domhandler';
import { safeHtml, safeText, type SafeHtmlOptions } from '../../src/portal/safe-html.ts';

const parts: Record<string, string> = {
  'logo@clinic.example': '/portal/inline/7',
  'a b@x': '/portal/inline/8',
};
const blocked: SafeHtmlOptions = { allowRemoteImages: false, inlineUrl: (id) => parts[id] ?? null };
const allowed: SafeHtmlOptions = { ...blocked, allowRemoteImages: true };
const clean = (input: string, options = blocked) => safeHtml(input, options).html;

const REL = 'rel="noopener noreferrer nofollow" target="_blank"';
const link = (href: string, text = href) => `<a href="${href}" ${REL}>${text}</a>`;
const shown = (href: string) => ` <span class="sp-destination">(${href})</span>`;

// What may come out at all, whatever went in
const ATTRIBUTES: Record<string, string[]> = {
  a: ['href', 'rel', 'target'],
  img: ['src', 'alt', 'width', 'height', 'title'],
  span: ['class'],
  ol: ['start'],
  td: ['colspan', 'rowspan'],
  th: ['colspan', 'rowspan'],
};
const TAGS = new Set([
  ...Object.keys(ATTRIBUTES),
  ...'p br div h1 h2 h3 h4 h5 h6 blockquote pre code hr ul li dl dt dd table thead tbody tfoot tr'.split(' '),
  ...'b i u strong em small sub sup s del ins'.split(' '),
]);

function assertSafe(html: string): void {
  const visit = (node: AnyNode) => {
    if (node.type === 'comment' || node.type === 'cdata' || node.type === 'directive') {
      assert.fail(`${node.type} in ${html}`);
    }
    if (!isTag(node)) return;
    assert.ok(TAGS.has(node.name), `<${node.name}> in ${html}`);
    for (const [name, value] of Object.entries(node.attribs)) {
      assert.ok(ATTRIBUTES[node.name]?.includes(name), `${name} on <${node.name}> in ${html}`);
      if (name === 'href') assert.match(value, /^(?:https?:\/\/|mailto:|tel:)/);
      if (name === 'src')
        assert.match(value, /^(?:https?:\/\/|data:image\/(?:png|gif|jpeg|webp)[;,]|\/portal\/)/);
      if (name === 'class') assert.match(value, /^sp-(?:destination|blocked-image)$/);
    }
    node.children.forEach(visit);
  };
  parseDocument(html).children.forEach(visit);
  // Text may say anything, escaped: only our own tags open with <
  assert.doesNotMatch(html, /<(?!\/?[a-z][a-z1-6]*[\s>])/);
  assert.doesNotMatch(html, /<\/?(?:script|style|iframe|svg|math|form|meta|base|link)\b/i);
}

// Every end tag closes the element opened last and nothing is left open, so the parser never has
// to guess and none of our end tags is left over for the page's elements around the message
function assertWellFormed(html: string): void {
  const stack: string[] = [];
  const voids = new Set(['br', 'hr', 'img']);
  let closed = 0;
  const parser = new Parser({
    onopentag: (name) => {
      if (!voids.has(name)) stack.push(name);
    },
    onclosetag: (name, implied) => {
      if (voids.has(name)) return;
      assert.equal(implied, false, `</${name}> implied in ${html}`);
      assert.equal(stack.pop(), name, html);
      closed++;
    },
  });
  parser.write(html);
  parser.end();
  assert.deepEqual(stack, [], html);
  // The parser says nothing of an end tag it ignores; text has no < of its own left
  assert.equal(closed, html.split('</').length - 1, `stray end tag in ${html}`);
}

describe('safeHtml: active content is removed', () => {
  const vectors: [string, string][] = [
    ['<p>Hi<script>alert(1)</script></p>', '<p>Hi</p>'],
    ['<SCRIPT SRC=https://evil.example/x.js></SCRIPT>after', 'after'],
    ['<scr<script>ipt>alert(1)</script>', 'ipt&gt;alert(1)'],
    ['<img src=x onerror=alert(1)>', ''],
    [
      '<img src="cid:logo@clinic.example" onerror="alert(1)" onload=alert(2)>',
      '<img src="/portal/inline/7">',
    ],
    ['<svg onload=alert(1)><text>drawn</text></svg>after', 'after'],
    ['<svg><script>alert(1)</script><image href="javascript:alert(1)"/></svg>x', 'x'],
    ['<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>', ''],
    ['<a href="javascript:alert(1)">a</a>', 'a'],
    ['<a href="JaVaScRiPt:alert(1)">b</a>', 'b'],
    ['<a href="  javascript:alert(1)">c</a>', 'c'],
    ['<a href="java\tscript:alert(1)">d</a>', 'd'],
    ['<a href="java\nscript:alert(1)">e</a>', 'e'],
    ['<a href="&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;alert(1)">f</a>', 'f'],
    ['<a href="&#x6A;avascript&colon;alert(1)">g</a>', 'g'],
    ['<a href="jav&#x09;ascript:alert(1)">h</a>', 'h'],
    ['<a href="\u0001javascript:alert(1)">i</a>', 'i'],
    ['<a href="vbscript:msgbox(1)">j</a>', 'j'],
    ['<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">k</a>', 'k'],
    ['<a href="file:///etc/passwd">l</a>', 'l'],
    ['<style>body { background: red }</style><p>m</p>', '<p>m</p>'],
    [
      '<div style="width: expression(alert(1)); background: url(javascript:alert(1))">n</div>',
      '<div>n</div>',
    ],
    ['<p style="position:fixed;top:0;left:0">o</p>', '<p>o</p>'],
    ['<meta http-equiv="refresh" content="0;url=https://evil.example/">p', 'p'],
    ['<base href="https://evil.example/"><link rel=stylesheet href="https://evil.example/x.css">q', 'q'],
    ['<form action="https://evil.example/steal"><p>Password</p><input name=pw></form>r', 'r'],
    ['<button formaction="https://evil.example/">Go</button>s', 's'],
    ['<textarea><b>typed</b></textarea><select><option>1</option></select>t', 't'],
    ['<iframe srcdoc="<script>alert(1)</script>" src="https://evil.example/">fallback</iframe>u', 'u'],
    ['<object data="https://evil.example/x.swf"><embed src="x.swf"></object>v', 'v'],
    ['<noscript><p title="</noscript><img src=x onerror=alert(1)>"></noscript>w', 'w'],
    ['<template><img src=x onerror=alert(1)></template>x', 'x'],
    ['<xmp><img src=x onerror=alert(1)></xmp>y', 'y'],
    ['<!-- <img src=x onerror=alert(1)> --><![CDATA[<script>alert(1)</script>]]>z', 'z'],
    ['<p title="</p><script>alert(1)</script>">ok</p>', '<p>ok</p>'],
    ['<img """><script>alert(1)</script>">', '"&gt;'],
    [
      '<div onclick="alert(1)" onmouseover=alert(1) id="login" class="sp-header" name="x">d</div>',
      '<div>d</div>',
    ],
    ['<span class="sp-destination">(https://bank.example/)</span>', '<span>(https://bank.example/)</span>'],
  ];
  for (const [input, expected] of vectors) {
    it(`cleans ${JSON.stringify(input)}`, () => {
      const html = clean(input);
      assert.equal(html, expected);
      assertSafe(html);
      assertWellFormed(html);
    });
  }

  it('keeps no attribute of the sender it does not know', () => {
    const html = clean(
      '<p dir="rtl" lang="x" data-x="1" aria-label="y" tabindex="1" hidden>t</p>' +
        '<img src="cid:logo@clinic.example" srcset="https://evil.example/a 2x" loading="lazy" usemap="#m">' +
        '<td background="x" bgcolor="red" width="100%" colspan="2">c</td>',
    );
    assert.equal(html, '<p>t</p><img src="/portal/inline/7"><span>c</span>');
  });
});

describe('safeHtml: links show where they go', () => {
  it('marks every link and shows its destination after it', () => {
    assert.equal(
      clean(
        '<a href="https://example.com/x" target="_self" rel="opener" title="t" onclick="x()">Click here</a>',
      ),
      link('https://example.com/x', 'Click here') + shown('https://example.com/x'),
    );
  });

  it('shows nothing more when the text is the destination', () => {
    assert.equal(
      clean('<a href="https://example.com/">https://example.com</a>'),
      link('https://example.com/', 'https://example.com'),
    );
    assert.equal(
      clean('<a href="https://example.com/a">https://example.com/a/</a>'),
      link('https://example.com/a', 'https://example.com/a/'),
    );
    assert.equal(
      clean('<a href="mailto:care@clinic.example">care@clinic.example</a>'),
      link('mailto:care@clinic.example', 'care@clinic.example'),
    );
    assert.equal(clean('<a href="tel:+15550100"> +15550100 </a>'), link('tel:+15550100', ' +15550100 '));
  });

  it('shows mailto: and tel: destinations behind other text', () => {
    assert.equal(
      clean('<a href="mailto:care@clinic.example?subject=Hi">care@clinic.example</a>'),
      link('mailto:care@clinic.example?subject=Hi', 'care@clinic.example') +
        shown('mailto:care@clinic.example?subject=Hi'),
    );
    assert.equal(
      clean('<a href="tel:+15550100">Call us</a>'),
      link('tel:+15550100', 'Call us') + shown('tel:+15550100'),
    );
  });

  it('shows the real host when the text is a URL of another one', () => {
    assert.equal(
      clean('<a href="https://evil.example/login">https://bank.example/login</a>'),
      link('https://evil.example/login', 'https://bank.example/login') + shown('https://evil.example/login'),
    );
    // Same host, other path: still not what the text says
    assert.equal(
      clean('<a href="https://bank.example/pay">https://bank.example/login</a>'),
      link('https://bank.example/pay', 'https://bank.example/login') + shown('https://bank.example/pay'),
    );
  });

  it('drops user:password@ that poses as the host', () => {
    assert.equal(
      clean('<a href="https://bank.example:x@evil.example/">https://bank.example/</a>'),
      link('https://evil.example/', 'https://bank.example/') + shown('https://evil.example/'),
    );
  });

  it('shows a look-alike international host as punycode', () => {
    assert.equal(
      clean('<a href="https://аpple.com/">https://аpple.com/</a>'),
      link('https://xn--pple-43d.com/', 'https://аpple.com/') + shown('https://xn--pple-43d.com/'),
    );
  });

  it('drops bidi overrides that would show a URL backwards', () => {
    const href = 'https://evil.example/moc.knab//:sptth';
    assert.equal(clean(`\u202e<a href="${href}">${href}</a>`), link(href));
    assert.equal(clean(`<a href="${href}">\u202dBank</a>`), link(href, 'Bank') + shown(href));
  });

  it('shows the destination of a link around an image', () => {
    assert.equal(
      clean('<a href="https://clinic.example/"><img src="cid:logo@clinic.example" alt="Clinic"></a>'),
      link('https://clinic.example/', '<img src="/portal/inline/7" alt="Clinic">') +
        shown('https://clinic.example/'),
    );
  });

  it('turns links it cannot vouch for into plain text', () => {
    assert.equal(
      clean(
        '<a href="/account">a</a> <a href="#top">b</a> <a href="//evil.example/">c</a> <a name="x">d</a> <a>e</a>',
      ),
      'a b c d e',
    );
  });

  it('escapes what it shows', () => {
    assert.equal(
      clean('<a href="https://example.com/?a=1&amp;b=&quot;2&quot;">x</a>'),
      link('https://example.com/?a=1&amp;b=%222%22', 'x') + shown('https://example.com/?a=1&amp;b=%222%22'),
    );
  });

  it('never nests a link in a link', () => {
    // A parser closes the first link at the second, unless something stands between them
    assert.equal(
      clean('<a href="https://a.example/">one <a href="https://b.example/">two</a></a>'),
      link('https://a.example/', 'one ') +
        shown('https://a.example/') +
        link('https://b.example/', 'two') +
        shown('https://b.example/'),
    );
    assert.equal(
      clean('<a href="https://a.example/">one <b><a href="https://b.example/">two</a></b></a>'),
      link('https://a.example/', 'one <b><span>two</span></b>') + shown('https://a.example/'),
    );
  });
});

describe('safeHtml: images', () => {
  it('points cid: images at the inline part', () => {
    const seen: string[] = [];
    const options = { ...blocked, inlineUrl: (id: string) => (seen.push(id), parts[id] ?? null) };
    const html = clean(
      '<img src="cid:logo@clinic.example" alt="Logo"><img src="CID:%3Ca%20b@x%3E"><img src="cid:gone@x">',
      options,
    );
    assert.equal(html, '<img src="/portal/inline/7" alt="Logo"><img src="/portal/inline/8">');
    assert.deepEqual(seen, ['logo@clinic.example', 'a b@x', 'gone@x']);
  });

  it('escapes inline URLs and checks them again', () => {
    const inlineUrl = (id: string) => (id === 'a' ? '/portal/inline/1?x=1&y="2"' : 'javascript:alert(1)');
    const html = clean('<img src="cid:a"><img src="cid:b">', { ...blocked, inlineUrl });
    assert.equal(html, '<img src="/portal/inline/1?x=1&amp;y=&quot;2&quot;"><img>');
    assertSafe(html);
  });

  it('keeps data: images of plain formats only', () => {
    const png = 'data:image/png;base64,iVBORw0KGgo=';
    assert.equal(clean(`<img src="${png}" alt="">`), `<img src="${png}" alt="">`);
    assert.equal(
      clean('<img src="data:image/jpeg;base64,/9j/4AAQ">'),
      '<img src="data:image/jpeg;base64,/9j/4AAQ">',
    );
    assert.equal(clean('<img src="data:image/svg+xml,<svg onload=alert(1)>">'), '');
    assert.equal(clean('<img src="data:text/html,<script>alert(1)</script>">'), '');
  });

  it('blocks remote images and counts them', () => {
    assert.deepEqual(
      safeHtml(
        '<p><img src="https://t.example/pixel.gif" alt="Logo &amp; <name>"><img src="http://t.example/x.png"><img src="//t.example/y.png" alt=" "></p>',
        blocked,
      ),
      {
        html:
          '<p><span class="sp-blocked-image">[image: Logo &amp; &lt;name&gt;]</span>' +
          '<span class="sp-blocked-image">[image]</span><span class="sp-blocked-image">[image]</span></p>',
        blockedRemoteImages: 3,
      },
    );
  });

  it('shows remote images the reader allowed, with their plain attributes only', () => {
    assert.deepEqual(
      safeHtml(
        '<img src="https://cdn.example/a.png" alt="A" width="10" height="20" title="T" style="x" onload="x()" srcset="https://cdn.example/b.png 2x">',
        allowed,
      ),
      {
        html: '<img src="https://cdn.example/a.png" alt="A" width="10" height="20" title="T">',
        blockedRemoteImages: 0,
      },
    );
  });

  it('drops images it cannot place', () => {
    assert.equal(
      clean('<img src="images/a.png"><img src="/api/logout"><img src="javascript:alert(1)"><img>', allowed),
      '',
    );
  });

  it('strips and counts remote content outside images', () => {
    assert.deepEqual(
      safeHtml(
        '<body background="https://t.example/bg.jpg"><table background="http://t.example/t.png"><tr>' +
          '<td style="background-image: url(\'https://t.example/c.png\')">a</td><td style="color: red">b</td></tr></table>' +
          '<div style="background:url(//t.example/d.png)">c</div><p background="images/local.png">d</p></body>',
        blocked,
      ),
      { html: '<table><tr><td>a</td><td>b</td></tr></table><div>c</div><p>d</p>', blockedRemoteImages: 4 },
    );
  });

  it('does not count what the reader allowed, nor what was dropped anyway', () => {
    const input = '<table background="https://t.example/t.png"><tr><td>a</td></tr></table>';
    assert.equal(safeHtml(input, allowed).blockedRemoteImages, 0);
    assert.equal(safeHtml(input, allowed).html, '<table><tr><td>a</td></tr></table>');
    const dropped =
      '<style>p { background: url(https://t.example/x.png) }</style><svg><image href="https://t.example/y.png"/></svg>';
    assert.deepEqual(safeHtml(dropped + '<p>x</p>', blocked), { html: '<p>x</p>', blockedRemoteImages: 0 });
  });
});

describe('safeHtml: formatting is kept', () => {
  it('keeps a table layout', () => {
    const table =
      '<table><thead><tr><th colspan="2">Results</th></tr></thead><tbody>' +
      '<tr><td rowspan="2">Blood</td><td>Normal</td></tr><tr><td>Ok</td></tr></tbody>' +
      '<tfoot><tr><td colspan="2">End</td></tr></tfoot></table>';
    assert.equal(
      clean(table.replace('<table>', '<table width="600" border="0" cellpadding="4" align="center">')),
      table,
    );
  });

  it('keeps ordinary formatting', () => {
    const html =
      '<h1>Title</h1><h6>Small</h6><p>A <b>b</b> <i>i</i> <u>u</u> <strong>s</strong> <em>e</em> <small>s</small> ' +
      'H<sub>2</sub>O x<sup>2</sup><br>next</p><ul><li>one</li></ul><ol start="3"><li>three</li></ol>' +
      '<dl><dt>Term</dt><dd>Meaning</dd></dl><blockquote>Quote</blockquote><pre><code>  code\n  here</code></pre><hr>' +
      '<div><span>Take <s>2</s> <del>3</del> <ins>1</ins> tablet</span></div>';
    assert.equal(clean(html), html);
  });

  it('keeps meaning when it rewrites', () => {
    assert.equal(
      clean('<strike>2</strike><center>a</center><section>b</section>'),
      '<s>2</s><div>a</div><div>b</div>',
    );
  });

  it('unwraps unknown tags and keeps their text', () => {
    assert.equal(
      clean(
        '<font face="Arial" color="red">Hello</font> <custom-tag x="1">there</custom-tag> <video poster="x">v</video>',
      ),
      'Hello there v',
    );
  });

  it('drops what a document has around its body', () => {
    assert.equal(
      clean(
        '<!DOCTYPE html><html><head><title>Subject</title><meta charset="utf-8"><style>p{}</style></head><body><p>Body</p></body></html>',
      ),
      '<p>Body</p>',
    );
  });

  it('keeps text as text', () => {
    assert.equal(
      clean('<p>a &amp; b &lt;c&gt; "d" \'e\' &nbsp;é 😀</p>'),
      '<p>a &amp; b &lt;c&gt; "d" \'e\' &nbsp;é 😀</p>',
    );
  });
});

describe('safeHtml: nested and malformed markup', () => {
  const cases: [string, string][] = [
    ['<p>unclosed <b>bold <i>both', '<p>unclosed <b>bold <i>both</i></b></p>'],
    ['<div>a</div></div></div></body></html><p>b', '<div>a</div><p>b</p>'],
    ['<b><i>x</b></i>y', '<b><i>x</i></b>y'],
    // Each of these, left alone, lets Chromium put "after" outside the page's div around the message:
    // it ends the outer li (or h3) at the inner one, and the message's </div> then ends the page's
    ['<ul><li>a<div><li>b</li></div>after</li></ul>', '<ul><li>a<div><span>b</span></div>after</li></ul>'],
    ['<h3><div><h1><h2>b</h2></h1>after</div></h3>', '<h3><div><span></span><span>b</span>after</div></h3>'],
    ['<dl><dt>a<div><dd>b</dd></div>after</dt></dl>', '<dl><dt>a<div><span>b</span></div>after</dt></dl>'],
    // ...and so does a table in a div that stands loose in a table: a browser moves the div out in
    // front, and the inner table then ends the outer one. Anything loose in a table gets a cell.
    [
      '<table><div><table></table></div>after</table>',
      '<table><td><div><table></table></div></td><td>after</td></table>',
    ],
    [
      '<table><h2>Title</h2><tr><td>a</td>loose<b>b</b></tr>\n</table>',
      '<table><td><h2>Title</h2></td><tr><td>a</td><td>loose</td><td><b>b</b></td></tr>\n</table>',
    ],
    ['<div><li>x</li><dd>y</dd></div>', '<div><span>x</span><span>y</span></div>'],
    ['<td>cell</td><tr><td>row</td></tr>', '<span>cell</span><span><span>row</span></span>'],
    // A paragraph ends where a block starts, so one that holds a block is a div
    ['<p>a<li><p>b</p></li></p>', '<div>a<span><p>b</p></span></div>'],
    [
      '<p><b>x<ul><li>y</li></ul></b>z</p><p><b>w</b></p>',
      '<div><b>x<ul><li>y</li></ul></b>z</div><p><b>w</b></p>',
    ],
    ['<table><td>direct</td></table>', '<table><td>direct</td></table>'],
    [
      '<table><tr><td>a<table><tr><td>b</td></tr></table></td></tr></table>',
      '<table><tr><td>a<table><tr><td>b</td></tr></table></td></tr></table>',
    ],
    ['<a href="https://example.com/"', ''],
    ['<p>a<p>b', '<p>a</p><p>b</p>'],
    ['<<p>>x<</p>>', '&lt;<p>&gt;x&lt;</p>&gt;'],
  ];
  for (const [input, expected] of cases) {
    it(`repairs ${JSON.stringify(input)}`, () => {
      const html = clean(input);
      assert.equal(html, expected);
      assertWellFormed(html);
    });
  }

  it('bounds nesting, and stays quick on it', () => {
    const started = performance.now();
    const html = clean('<div>'.repeat(5000) + 'deep' + '</div>'.repeat(5000));
    assert.ok(performance.now() - started < 5000);
    assert.ok(html.includes('deep'));
    assert.ok((html.match(/<div>/g) ?? []).length <= 200);
    assertWellFormed(html);
  });

  it('turns any mix of fragments into safe, well-formed markup', () => {
    const fragments = [
      ...[
        '<p>',
        '</p>',
        '<div>',
        '</div>',
        '<b>',
        '</b>',
        '<a href="https://a.example/">',
        '<a href="javascript:x">',
      ],
      ...['</a>', '<ul>', '<li>', '</li>', '</ul>', '<table>', '<tr>', '<td>', '</td>', '</tr>', '</table>'],
      ...[
        '<h1>',
        '</h1>',
        '<dl>',
        '<dt>',
        '<dd>',
        '<script>',
        '</script>',
        '<svg>',
        '</svg>',
        '<style>',
        '<!--',
      ],
      ...[
        '-->',
        '<img src="https://t.example/x.png" onerror=alert(1)>',
        '<img src="cid:logo@clinic.example">',
      ],
      ...[
        '<noscript>',
        '</noscript>',
        '<iframe>',
        '</iframe>',
        '<textarea>',
        '</textarea>',
        '<select>',
        '<math>',
      ],
      ...[
        'text',
        ' ',
        '&amp;',
        '<',
        '>',
        '"',
        "'",
        '=',
        'https://x.example/',
        '<span class=x>',
        '</span>',
        '<br>',
      ],
      ...[
        '<pre>',
        '</pre>',
        '<p onclick=alert(1)>',
        '<plaintext>',
        '<template>',
        '</template>',
        '<form>',
        '</form>',
      ],
    ];
    let seed = 42;
    const random = (n: number) => (((seed = (seed * 1103515245 + 12345) % 2147483648) % n) + n) % n;
    for (let round = 0; round < 400; round++) {
      let input = '';
      for (let i = random(40); i >= 0; i--) input += fragments[random(fragments.length)];
      for (const options of [blocked, allowed]) {
        const html = clean(input, options);
        assertSafe(html);
        assertWellFormed(html);
      }
    }
  });
});

describe('safeText', () => {
  it('escapes and keeps line breaks', () => {
    assert.equal(
      safeText('a & b < c > d "e" \'f\'\r\nline 2\rline 3\n'),
      'a &amp; b &lt; c &gt; d &quot;e&quot; &#39;f&#39;\nline 2\nline 3\n',
    );
    assert.equal(safeText('<script>alert(1)</script>'), '&lt;script&gt;alert(1)&lt;/script&gt;');
  });

  it('links bare URLs, which show their own destination', () => {
    assert.equal(
      safeText('See https://clinic.example/results now'),
      `See ${link('https://clinic.example/results')} now`,
    );
    assert.equal(safeText('http://clinic.example'), link('http://clinic.example/', 'http://clinic.example'));
  });

  it('leaves trailing punctuation and enclosing brackets out of the link', () => {
    assert.equal(safeText('Go to https://clinic.example/a.'), `Go to ${link('https://clinic.example/a')}.`);
    assert.equal(safeText('(https://clinic.example/a), then'), `(${link('https://clinic.example/a')}), then`);
    assert.equal(
      safeText('(https://en.wikipedia.org/wiki/Ibuprofen_(drug))'),
      `(${link('https://en.wikipedia.org/wiki/Ibuprofen_(drug)')})`,
    );
    assert.equal(safeText('<https://clinic.example/a>'), `&lt;${link('https://clinic.example/a')}&gt;`);
    assert.equal(safeText('"https://clinic.example/a"'), `&quot;${link('https://clinic.example/a')}&quot;`);
  });

  it('escapes the URL in the link', () => {
    assert.equal(
      safeText('https://clinic.example/?a=1&b=2'),
      `<a href="https://clinic.example/?a=1&amp;b=2" ${REL}>https://clinic.example/?a=1&amp;b=2</a>`,
    );
  });

  it('shows the destination when a URL is not what it looks like', () => {
    assert.equal(
      safeText('https://bank.example@evil.example/'),
      link('https://evil.example/', 'https://bank.example@evil.example/') + shown('https://evil.example/'),
    );
    assert.equal(
      safeText('https://аpple.com'),
      link('https://xn--pple-43d.com/', 'https://аpple.com') + shown('https://xn--pple-43d.com/'),
    );
    assert.equal(safeText('\u202ehttps://clinic.example/'), link('https://clinic.example/'));
  });

  it('links http(s) only', () => {
    assert.equal(
      safeText('javascript:alert(1) mailto:a@b.example ftp://x.example https://'),
      'javascript:alert(1) mailto:a@b.example ftp://x.example https://',
    );
  });
});
