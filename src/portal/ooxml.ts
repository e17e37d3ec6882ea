import { entryContent, readZip, type Zip } from './zip.ts';

// Office Open XML documents (ECMA-376 / ISO 29500) a patient may send: a Word document, an Excel
// workbook or a PowerPoint presentation, without anything Office would run. Judged from the ZIP's
// own parts: the parts of that one format and no other, a main part of the macro-free type, no
// VBA project, macro sheet, ActiveX control or OLE object, and no relationship that fetches a
// template or an object from elsewhere (remote templates and external OLE links are how documents
// without macros still run code). An embedded workbook or document (a chart's data) is judged the
// same way. The two XML parts that decide (content types, relationships) are read with a small
// start-tag reader that refuses what a byte search could be fooled by: DTDs, unknown entities,
// UTF-16.

export type OfficeType = 'docx' | 'xlsx' | 'pptx';

const FORMATS: Record<OfficeType, { folder: string; main: string }> = {
  docx: {
    folder: 'word/',
    main: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml',
  },
  xlsx: {
    folder: 'xl/',
    main: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml',
  },
  pptx: {
    folder: 'ppt/',
    main: 'application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml',
  },
};

/** Folders every format may hold besides its own. */
const SHARED = ['_rels/', 'docProps/', 'customXml/'];
const CONTENT_TYPES = '[Content_Types].xml';
/**
 * Content types, relationship types and part names of code and objects: macros (VBA, Excel 4.0
 * macro sheets, Word's macro key bindings and toolbars), ActiveX controls, OLE objects.
 */
const ACTIVE =
  /macroenabled|vbaproject|vbadata|ms-office\.vba|macrosheet|dialogsheet|keymapcustomizations|attachedtoolbars|activex|oleobject/i;
/** Binary parts Office writes that hold no code: printer settings. Any other .bin is refused. */
const PRINTER_SETTINGS = /^(word|xl|ppt)\/printerSettings\/printerSettings\d+\.bin$/i;
const EMBEDDED_DOCUMENT = /^(word|xl|ppt)\/embeddings\/[^/]+\.(docx|xlsx|pptx)$/i;
/** The only relationship that may point outside the document: a hyperlink the reader clicks. */
const HYPERLINK = /^http:\/\/schemas\.openxmlformats\.org\/officeDocument\/2006\/relationships\/hyperlink$/;

const PART_MAX = 1 << 20;
const EMBEDDED_MAX = 16 << 20;

/** Which office document this is, or null when it is none of them or holds anything active. */
export function officeType(content: Buffer, depth = 0): OfficeType | null {
  const zip = readZip(content);
  if (!zip) return null;
  const names = zip.entries.map((e) => e.name);
  if (!names.every(plainPartName) || new Set(names.map((n) => n.toLowerCase())).size !== names.length)
    return null;
  const declared = xmlTags(partData(content, zip, CONTENT_TYPES, PART_MAX));
  if (!declared) return null;
  const contentTypes = declared.map((tag) => tag.attributes.get('ContentType') ?? '');
  if (contentTypes.some((t) => ACTIVE.test(t))) return null;
  const type = (Object.keys(FORMATS) as OfficeType[]).find((t) => contentTypes.includes(FORMATS[t].main));
  if (!type) return null;
  const allowed = [...SHARED, FORMATS[type].folder];
  for (const { name } of zip.entries) {
    if (name === CONTENT_TYPES) continue;
    if (!allowed.some((folder) => name.startsWith(folder)) || ACTIVE.test(name)) return null;
    if (/\.bin$/i.test(name) && !PRINTER_SETTINGS.test(name)) return null;
    if (/\/embeddings\//i.test(name)) {
      const inner =
        EMBEDDED_DOCUMENT.test(name) && depth === 0 ? partData(content, zip, name, EMBEDDED_MAX) : null;
      if (!inner || officeType(inner, depth + 1) === null) return null;
    }
    if (/\.rels$/i.test(name) && !relationshipsAllowed(xmlTags(partData(content, zip, name, PART_MAX))))
      return null;
  }
  return type;
}

/** A part name as the format writes them: relative, forward slashes, no `..`, printable ASCII. */
function plainPartName(name: string): boolean {
  return (
    /^[\x21-\x7e]+$/.test(name) &&
    !name.startsWith('/') &&
    !name.includes('\\') &&
    name.split('/').every((segment, i, all) => (segment !== '' || i === all.length - 1) && segment !== '..')
  );
}

function partData(content: Buffer, zip: Zip, name: string, maxBytes: number): Buffer | null {
  const entry = zip.entries.find((e) => e.name === name);
  return entry ? entryContent(content, zip, entry, maxBytes) : null;
}

/** No relationship to code or objects, and every one that leaves the document is a hyperlink. */
function relationshipsAllowed(tags: XmlTag[] | null): boolean {
  if (!tags) return false;
  return tags.every((tag) => {
    const type = tag.attributes.get('Type') ?? '';
    if (ACTIVE.test(type) || ACTIVE.test(tag.attributes.get('Target') ?? '')) return false;
    return tag.attributes.get('TargetMode') !== 'External' || HYPERLINK.test(type);
  });
}

interface XmlTag {
  name: string;
  attributes: Map<string, string>;
}

/**
 * The start tags of a small XML part with their attributes (values decoded), or null when the
 * part is missing, not UTF-8, or holds what Office refuses in a package part anyway and a reader
 * like this one could misjudge: a DTD (entities), an unknown entity, a malformed tag.
 */
function xmlTags(data: Buffer | null): XmlTag[] | null {
  if (!data || data.includes(0) || data[0] === 0xfe || data[0] === 0xff) return null;
  const xml = data.toString('latin1');
  const tags: XmlTag[] = [];
  for (let at = xml.indexOf('<'); at >= 0; at = xml.indexOf('<', at)) {
    if (xml.startsWith('<?', at) || xml.startsWith('</', at)) {
      const end = xml.indexOf('>', at);
      if (end < 0) return null;
      at = end + 1;
      continue;
    }
    START_TAG.lastIndex = at;
    const tag = START_TAG.exec(xml);
    if (!tag) return null; // a DTD, a comment, CDATA or a malformed tag
    const attributes = new Map<string, string>();
    for (const [, name, double, single] of tag[2]!.matchAll(ATTRIBUTE)) {
      const value = decode(double ?? single ?? '');
      if (value === null || attributes.has(name!)) return null;
      attributes.set(name!, value);
    }
    tags.push({ name: tag[1]!, attributes });
    at = START_TAG.lastIndex;
  }
  return tags;
}

// A start tag: a name, then attributes whose quoted values may hold '>' (XML allows it).
const START_TAG = /<([\w:.-]+)((?:\s+[\w:.-]+\s*=\s*(?:"[^"<]*"|'[^'<]*'))*)\s*\/?>/y;
const ATTRIBUTE = /([\w:.-]+)\s*=\s*(?:"([^"<]*)"|'([^'<]*)')/g;
const REFERENCE = /&(#x[0-9a-fA-F]{1,6}|#[0-9]{1,7}|lt|gt|quot|apos|amp);/g;
const ENTITIES: Record<string, string> = { lt: '<', gt: '>', quot: '"', apos: "'", amp: '&' };

/** An attribute value with its references decoded; null when an '&' starts none XML defines. */
function decode(value: string): string | null {
  if (value.replace(REFERENCE, '').includes('&')) return null;
  return value.replace(REFERENCE, (_, ref: string) => {
    if (ref[0] !== '#') return ENTITIES[ref]!;
    const code = ref[1] === 'x' ? parseInt(ref.slice(2), 16) : Number(ref.slice(1));
    return String.fromCodePoint(Math.min(code, 0x10ffff));
  });
}
