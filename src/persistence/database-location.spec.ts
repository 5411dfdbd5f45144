import { describe, expect, it } from 'vitest';
import { redact } from './database-location';

describe('redact', () => {
  it('masks the password of user:pass@host', () => {
    expect(redact('postgresql://app:s3cret@db.internal:5432/conversions')).toBe(
      'postgresql://app:***@db.internal:5432/conversions',
    );
  });

  it('masks the secrets node-postgres reads from the query string, in any case', () => {
    const logged = redact(
      'postgresql://postgres@127.0.0.1:5432/db?password=TOPSECRET&sslmode=verify-full' +
        '&SSLPassword=KEYPASS&sslkey=/etc/keys/client.key&Password=AGAIN',
    );
    expect(logged).toBe(
      'postgresql://postgres@127.0.0.1:5432/db?password=***&sslmode=verify-full' +
        '&SSLPassword=***&sslkey=***&Password=***',
    );
    for (const secret of ['TOPSECRET', 'KEYPASS', 'client.key', 'AGAIN'])
      expect(logged).not.toContain(secret);
  });

  it('masks a parameter whose name is percent-encoded, as the driver decodes it', () => {
    expect(redact('postgres://u@h/db?pass%77ord=TOPSECRET')).toBe(
      'postgres://u@h/db?pass%77ord=***',
    );
  });

  it('leaves a URL without secrets exactly as it was', () => {
    for (const url of [
      'postgresql://postgres@127.0.0.1:5432/postgres',
      'postgresql://u@h/db?',
      'postgresql:///conversions?host=/var/run/postgresql',
      'postgresql://u@h/db?sslmode=require&application_name=a%20b+c&options=-c%20x%3Dy',
    ])
      expect(redact(url)).toBe(new URL(url).toString());
  });
});
