import { Type } from 'typebox';
import { errors } from '../errors/index.ts';
import { auditContext, Nullable, ProblemSchema, type HttpServer } from '../http/index.ts';
import { loadBranding } from './branding.ts';
import type { PortalDeps } from './types.ts';

// GET/PUT /v1/branding: the name, colour and logo recipients see in notices and the portal.

const MAX_LOGO_BYTES = 200_000;
/** The first bytes of each accepted image type: a logo is checked by what it is, not what it claims. */
const MAGIC: Record<string, (b: Buffer) => boolean> = {
  'image/png': (b) => b.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])),
  'image/jpeg': (b) => b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff,
  'image/gif': (b) => b.subarray(0, 4).toString('latin1') === 'GIF8',
  'image/webp': (b) =>
    b.subarray(0, 4).toString('latin1') === 'RIFF' && b.subarray(8, 12).toString('latin1') === 'WEBP',
};

const BrandingSchema = Type.Object({
  display_name: Nullable(Type.String({ description: "Shown instead of the organisation's name" })),
  color: Nullable(Type.String({ description: '#rrggbb' })),
  logo: Nullable(Type.Object({ content_type: Type.String(), size: Type.Integer() })),
});

const BrandingChange = Type.Object(
  {
    display_name: Type.Optional(Nullable(Type.String({ minLength: 1, maxLength: 100 }))),
    color: Type.Optional(Nullable(Type.String({ pattern: '^#[0-9a-fA-F]{6}$' }))),
    logo: Type.Optional(
      Nullable(
        Type.Object(
          {
            content_type: Type.Union(
              Object.keys(MAGIC).map((t) => Type.Literal(t)),
              {
                description: 'PNG, JPEG, GIF or WebP (SVG is refused: it can carry script)',
              },
            ),
            content: Type.String({
              description: `The image, base64-encoded; at most ${MAX_LOGO_BYTES} bytes`,
            }),
          },
          { additionalProperties: false },
        ),
      ),
    ),
  },
  { additionalProperties: false },
);

export function brandingRoutes(deps: Pick<PortalDeps, 'db' | 'audit'>) {
  const show = async (orgId: string) => {
    const b = await loadBranding(deps.db, orgId);
    return {
      display_name: b.display_name,
      color: b.color,
      logo: b.logo && b.logo_type ? { content_type: b.logo_type, size: b.logo.length } : null,
    };
  };

  return async (app: HttpServer) => {
    app.get(
      '/v1/branding',
      {
        config: { scope: 'org:read' },
        schema: {
          tags: ['organisation'],
          summary: 'What recipients see of this organisation in notices and the portal',
          response: { 200: BrandingSchema },
        },
      },
      async (request) => show(request.auth.orgId),
    );

    app.put(
      '/v1/branding',
      {
        config: { scope: 'branding:manage' },
        schema: {
          tags: ['organisation'],
          summary: 'Change the name, colour or logo recipients see; fields left out keep their value',
          body: BrandingChange,
          response: { 200: BrandingSchema, 422: ProblemSchema },
        },
      },
      async (request) => {
        const orgId = request.auth.orgId;
        const body = request.body;
        let logo: Buffer | null | undefined;
        if (body.logo) {
          logo = Buffer.from(body.logo.content, 'base64');
          if (logo.length === 0 || logo.length > MAX_LOGO_BYTES)
            throw errors.validation(`The logo must be 1 to ${MAX_LOGO_BYTES} bytes.`);
          if (!MAGIC[body.logo.content_type]!(logo))
            throw errors.validation(`The logo is not a ${body.logo.content_type} image.`);
        } else if (body.logo === null) logo = null;
        await deps.db.transaction(async (tx) => {
          const before = await loadBranding(tx, orgId);
          await tx.query(
            `INSERT INTO org_branding (org_id, display_name, color, logo, logo_type, updated_at)
             VALUES ($1, $2, $3, $4, $5, now())
             ON CONFLICT (org_id) DO UPDATE SET display_name = $2, color = $3, logo = $4, logo_type = $5, updated_at = now()`,
            [
              orgId,
              body.display_name === undefined ? before.display_name : body.display_name,
              body.color === undefined ? before.color : (body.color?.toLowerCase() ?? null),
              logo === undefined ? before.logo : logo,
              logo === undefined ? before.logo_type : logo === null ? null : body.logo!.content_type,
            ],
          );
          await deps.audit(tx, {
            ...auditContext(request),
            action: 'branding.updated',
            objectType: 'organization',
            objectId: orgId,
            outcome: 'success',
            details: { fields: Object.keys(body) },
          });
        });
        return show(orgId);
      },
    );
  };
}
