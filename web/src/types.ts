// The shapes the console reads from the public API (see /openapi.json).

export type Stage = 'second_factor' | 'enrol' | 'active';

export interface Session {
  id: string;
  organization_id: string;
  user: { id: string; email: string; role: string };
  stage: Stage;
  permissions: string[];
  csrf_token: string;
  created_at: string;
  authenticated_at: string;
  expires_at: string;
  methods: string[];
}

export interface SignInAnswer {
  status: Stage;
  csrf_token: string;
  methods: string[];
  requirement: 'none' | 'any' | 'passkey';
  expires_at: string;
}

export interface Attempt {
  attempt: number;
  started_at: string;
  finished_at: string;
  method: string;
  outcome: string;
  mx: string | null;
  smtp_code: number | null;
  smtp_response: string | null;
  tls_version: string | null;
  tls_cipher: string | null;
  detail: string | null;
}

export interface PortalActivity {
  verification: string;
  expires_at: string;
  revoked_at: string | null;
  locked_at: string | null;
  failed_attempts: number;
  verified_at: string | null;
  first_viewed_at: string | null;
  last_viewed_at: string | null;
  views: number;
  downloads: number;
  replies: number;
}

export interface Recipient {
  id: string;
  address: string;
  kind: string;
  state: string;
  method: string | null;
  method_reason: string | null;
  mx: string | null;
  smtp_code: number | null;
  smtp_response: string | null;
  tls_version: string | null;
  tls_cipher: string | null;
  attempts: number;
  next_attempt_at: string | null;
  updated_at: string;
  finished_at: string | null;
  history?: Attempt[];
  portal?: PortalActivity | null;
}

export interface Dlp {
  phi: boolean;
  findings: { kind: string; count: number; where: string[] }[];
}

export interface MessageSummary {
  id: string;
  status: string;
  created_at: string;
  send_at: string | null;
  from: string;
  protection: string;
  priority: string;
  tags: string[];
  size_bytes: number;
  sandbox: boolean;
  dlp: Dlp;
  recipients: Recipient[];
}

export interface MessageDetail extends MessageSummary {
  subject: string;
  metadata: Record<string, string>;
  reply_of: string | null;
  replies: string[];
}

export interface Page<T> {
  data: T[];
  next_cursor: string | null;
}

export const RECIPIENT_STATES = [
  'queued',
  'delivering',
  'deferred',
  'delivered',
  'bounced',
  'failed',
  'portal_notified',
  'expired',
  'revoked',
] as const;

export const FINAL_STATES = new Set([
  'delivered',
  'bounced',
  'failed',
  'portal_notified',
  'expired',
  'revoked',
]);
