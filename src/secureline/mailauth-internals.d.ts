// The parts of mailauth's DKIM signer that src/secureline/dkim.ts builds on: its parser, body
// hash and header canonicalization. mailauth ships types for dkimSign only, and keeps these
// modules internal: its version is pinned, and test/secureline/mailauth-contract.test.ts checks
// what is declared here.

declare module 'mailauth/lib/dkim/dkim-signer.js' {
  import { Writable } from 'node:stream';

  export interface SignatureData {
    type?: 'DKIM';
    signingDomain: string;
    selector: string;
    algorithm: 'rsa-sha256' | 'ed25519-sha256';
    canonicalization: string;
    headerList: string[];
    /** mailauth reads it as PEM; only its truthiness matters until finalize(). */
    privateKey: unknown;
    maxBodyLength?: number | '';
  }

  export interface ParsedHeader {
    key: string;
    casedKey: string;
    line: Buffer;
  }

  export class DkimSigner extends Writable {
    constructor(options: {
      canonicalization: string;
      signTime: Date;
      headerList: string[];
      signatureData: SignatureData[];
    });
    signatureData: SignatureData[];
    headers: { parsed: ParsedHeader[] } | null;
    bodyHashes: Map<string, { hash: string | null }>;
    signatureHeaders: string[];
    errors: unknown[];
    getFieldNames(signatureData: SignatureData): string;
    getTimestamps(): { timestamp: number | false; expiration: number | false };
    finalize(): Promise<void>;
  }
}

declare module 'mailauth/lib/dkim/header/signature-opts.js' {
  /** The tags of a signature being made, and its header line as hashed (b= still empty). */
  export function buildSignatureOpts(
    type: 'DKIM',
    signingHeaderLines: { keys: string },
    options: Record<string, unknown>,
  ): { opts: Record<string, unknown>; signatureHeaderLine: string };
}

declare module 'mailauth/lib/tools.js' {
  import type { ParsedHeader } from 'mailauth/lib/dkim/dkim-signer.js';
  export function getSigningHeaderLines(
    parsed: ParsedHeader[],
    fieldNames: string,
  ): { keys: string; headers: ParsedHeader[] };
  export function formatSignatureHeaderLine(
    type: 'DKIM',
    values: Record<string, unknown>,
    folded: boolean,
  ): string;
  /** RFC 6376 3.4.2, one header line (with `suffix` appended). */
  export function formatRelaxedLine(line: Buffer | string, suffix?: string): Buffer;
  /** The line with its b= value emptied, as RFC 6376 3.7 hashes it. */
  export function stripSignatureValue(line: Buffer | string, strict?: boolean): Buffer;
  export function writeToStream(stream: NodeJS.WritableStream, input: Buffer): Promise<void>;
}
