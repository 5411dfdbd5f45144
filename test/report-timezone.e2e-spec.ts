import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp } from './support/test-app';
import { TestDatabase, createTestDatabase } from './support/test-database';

describe('REPORT_TIMEZONE', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('stops the start, naming it, when Node knows the zone but PostgreSQL does not', async () => {
    // In Node's (ICU's) list, not in PostgreSQL's: every report would be a 500.
    await expect(createTestApp(db.url, { REPORT_TIMEZONE: 'US/Pacific-New' })).rejects.toThrow(
      /REPORT_TIMEZONE="US\/Pacific-New" is not a time zone PostgreSQL knows/,
    );
  });

  it('starts with a zone both know', async () => {
    const app = await createTestApp(db.url, { REPORT_TIMEZONE: 'Etc/GMT+5' });
    await app.close();
  });
});
