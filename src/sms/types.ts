// What the portal (and anything else) sees of SMS: one message in, the carrier's id out. A text
// holds only a one-time code or a link, never PHI; the number is personal data all the same.

export interface SmsMessage {
  /** The recipient's phone number as the sender typed it; normalised to E.164 before use. */
  to: string;
  /** A one-time code or a link. Never PHI. */
  body: string;
  context: {
    orgId: string;
    /** What the text is for, e.g. `portal-otp`: a short identifier, kept in clear in the sandbox. */
    purpose: string;
  };
}

export interface SmsResult {
  /** The carrier's id for the message (Twilio's `sid`); in the sandbox, the capture's id. */
  providerId: string;
}

/** Throws an SmsError when the text is not accepted; `retryable` says whether trying again may help. */
export interface SmsSender {
  send(message: SmsMessage): Promise<SmsResult>;
}
