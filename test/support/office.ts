// Office documents as Word, Excel and PowerPoint write them (the parts, their content types and
// relationships), small enough for upload tests, and the ways they are made to run code: macros,
// ActiveX, OLE objects, remote templates. Built here with a plain ZIP writer (data descriptors and
// deflate, as Office writes them) since there is no office suite on the test machine.
import { crc32, deflateRawSync } from 'node:zlib';

/** A ZIP file of these entries, in this order; `prefix` goes before the first entry. */
export function zip(entries: Record<string, string | Buffer>, options: { prefix?: Buffer } = {}): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = options.prefix?.length ?? 0;
  for (const [name, value] of Object.entries(entries)) {
    const content = Buffer.from(value);
    const data = deflateRawSync(content);
    const nameBytes = Buffer.from(name);
    const crc = crc32(content);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(0x8, 6); // sizes in the data descriptor
    local.writeUInt16LE(8, 8);
    local.writeUInt16LE(nameBytes.length, 26);
    const descriptor = Buffer.alloc(16);
    descriptor.writeUInt32LE(0x08074b50, 0);
    descriptor.writeUInt32LE(crc, 4);
    descriptor.writeUInt32LE(data.length, 8);
    descriptor.writeUInt32LE(content.length, 12);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(45, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(0x8, 8);
    central.writeUInt16LE(8, 10);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(data.length, 20);
    central.writeUInt32LE(content.length, 24);
    central.writeUInt16LE(nameBytes.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, nameBytes, data, descriptor);
    centrals.push(central, nameBytes);
    offset += 30 + nameBytes.length + data.length + 16;
  }
  const directory = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(Object.keys(entries).length, 8);
  end.writeUInt16LE(Object.keys(entries).length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...(options.prefix ? [options.prefix] : []), ...locals, directory, end]);
}

const XML = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\r\n';
const R = 'http://schemas.openxmlformats.org/officeDocument/2006/relationships';
const PACKAGE_R = 'http://schemas.openxmlformats.org/package/2006/relationships';

export const MAIN_TYPES = {
  docx: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml',
  docm: 'application/vnd.ms-word.document.macroEnabled.main+xml',
  xlsx: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml',
  xlsm: 'application/vnd.ms-excel.sheet.macroEnabled.main+xml',
  pptx: 'application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml',
};

export interface Relationship {
  type: string;
  target: string;
  external?: boolean;
}

export function relationships(list: Relationship[]): string {
  return `${XML}<Relationships xmlns="${PACKAGE_R}">${list
    .map(
      (r, i) =>
        `<Relationship Id="rId${i + 1}" Type="${r.type}" Target="${r.target}"${r.external ? ' TargetMode="External"' : ''}/>`,
    )
    .join('')}</Relationships>`;
}

function contentTypes(main: string, mainPart: string, extra: string[] = []): string {
  return `${XML}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>${extra.join('')}<Override PartName="/${mainPart}" ContentType="${main}"/><Override PartName="/docProps/core.xml" ContentType="application/vnd.openxmlformats-package.core-properties+xml"/><Override PartName="/docProps/app.xml" ContentType="application/vnd.openxmlformats-officedocument.extended-properties+xml"/></Types>`;
}

const docProps = {
  'docProps/core.xml': `${XML}<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:creator>Dana</dc:creator></cp:coreProperties>`,
  'docProps/app.xml': `${XML}<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties"><Application>Microsoft Office Word</Application></Properties>`,
};

const packageRels = (mainPart: string) =>
  relationships([
    { type: `${R}/officeDocument`, target: mainPart },
    { type: `${PACKAGE_R}/metadata/core-properties`, target: 'docProps/core.xml' },
    { type: `${R}/extended-properties`, target: 'docProps/app.xml' },
  ]);

/**
 * A Word document with a hyperlink, as Word writes it; `main` swaps its main part's content type,
 * `documentRels` adds relationships to the document, `parts` adds parts.
 */
export function docx(
  options: {
    main?: string;
    documentRels?: Relationship[];
    parts?: Record<string, string | Buffer>;
    types?: string[];
  } = {},
): Buffer {
  return zip({
    '[Content_Types].xml': contentTypes(options.main ?? MAIN_TYPES.docx, 'word/document.xml', options.types),
    '_rels/.rels': packageRels('word/document.xml'),
    'word/document.xml': `${XML}<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main" xmlns:r="${R}"><w:body><w:p><w:hyperlink r:id="rId1"><w:r><w:t>Insurance</w:t></w:r></w:hyperlink></w:p></w:body></w:document>`,
    'word/_rels/document.xml.rels': relationships([
      { type: `${R}/hyperlink`, target: 'https://insurer.example/card', external: true },
      { type: `${R}/styles`, target: 'styles.xml' },
      ...(options.documentRels ?? []),
    ]),
    'word/styles.xml': `${XML}<w:styles xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"/>`,
    ...docProps,
    ...options.parts,
  });
}

/** An Excel workbook with one sheet and its printer settings, as Excel writes it. */
export function xlsx(options: { main?: string; parts?: Record<string, string | Buffer> } = {}): Buffer {
  return zip({
    '[Content_Types].xml': contentTypes(options.main ?? MAIN_TYPES.xlsx, 'xl/workbook.xml', [
      '<Default Extension="bin" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.printerSettings"/>',
    ]),
    '_rels/.rels': packageRels('xl/workbook.xml'),
    'xl/workbook.xml': `${XML}<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="${R}"><sheets><sheet name="Doses" sheetId="1" r:id="rId1"/></sheets></workbook>`,
    'xl/_rels/workbook.xml.rels': relationships([
      { type: `${R}/worksheet`, target: 'worksheets/sheet1.xml' },
    ]),
    'xl/worksheets/sheet1.xml': `${XML}<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData/></worksheet>`,
    'xl/worksheets/_rels/sheet1.xml.rels': relationships([
      { type: `${R}/printerSettings`, target: '../printerSettings/printerSettings1.bin' },
    ]),
    'xl/printerSettings/printerSettings1.bin': Buffer.alloc(64, 7),
    ...docProps,
    ...options.parts,
  });
}
