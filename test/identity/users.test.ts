import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createUser, listUsers, verifyPassword } from '../../src/identity/index.ts';
import { describeEachDb } from '../support/db.ts';

describeEachDb('users', (suite) => {
  test('passwords are stored as argon2id hashes; emails are unique per organisation, case-insensitively', async () => {
    const { rows } = await suite.db.query<{ org_id: string }>(
      "INSERT INTO organizations (name) VALUES ('U') RETURNING org_id",
    );
    const orgId = rows[0]!.org_id;
    const user = await createUser(suite.db, orgId, {
      email: 'Nurse@Clinic.example',
      role: 'sender',
      password: 'correct horse battery staple',
    });
    const stored = await suite.db.query<{ password_hash: string }>(
      'SELECT password_hash FROM users WHERE org_id = $1 AND user_id = $2',
      [orgId, user.id],
    );
    const hash = stored.rows[0]!.password_hash;
    assert.match(hash, /^\$argon2id\$v=19\$m=\d+,[pt]=\d+,[pt]=\d+\$/);
    assert.ok(await verifyPassword(hash, 'correct horse battery staple'));
    assert.ok(!(await verifyPassword(hash, 'correct horse battery stapler')));
    await assert.rejects(
      createUser(suite.db, orgId, { email: 'nurse@clinic.example', role: 'sender' }),
      (err: { code?: string }) => err.code === 'user_exists',
    );
    await assert.rejects(
      createUser(suite.db, orgId, { email: 'x@clinic.example', role: 'superuser' }),
      (err: { code?: string }) => err.code === 'validation_failed',
    );
    assert.deepEqual(
      (await listUsers(suite.db, orgId)).map((u) => u.email),
      ['Nurse@Clinic.example'],
    );
  });
});
