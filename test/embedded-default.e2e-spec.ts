import { spawn, spawnSync } from 'node:child_process';
import { chmod, copyFile, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { constants, tmpdir } from 'node:os';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runningEmbeddedUrl } from '../src/persistence/embedded-postgres';
import { anEvent } from './support/event-factory';
import { FakeGa4 } from './support/fake-ga4';
import { freePort } from './support/free-port';
import { ServiceProcess, buildService } from './support/service-process';

const ROOT = join(__dirname, '..');
const API_KEY = 'embedded-default-key-0123456789';

/**
 * `npm start` with DATABASE_URL unset: the compiled service starts its embedded
 * PostgreSQL, migrates, serves, survives a SIGKILL and stops cleanly on SIGTERM.
 */
describe('embedded PostgreSQL default', () => {
  let dataDir: string;
  let service: ServiceProcess;
  let pgPort: number;
  let httpPort: number;

  beforeAll(async () => {
    buildService();
    pgPort = await freePort();
    httpPort = await freePort();
    dataDir = await mkdtemp(join(tmpdir(), 'ct-embedded-'));
    await chmod(dataDir, 0o755); // as root, PostgreSQL runs as `postgres` and must reach its directory
    service = new ServiceProcess(
      {
        PORT: String(httpPort),
        EMBEDDED_DATABASE_DIR: dataDir,
        EMBEDDED_DATABASE_PORT: String(pgPort),
        LOG_LEVEL: 'info',
        API_KEYS: API_KEY,
      },
      { ownProcessGroup: true },
    );
  }, 180_000);
  afterAll(async () => {
    service?.kill('SIGTERM');
    await service?.waitForExit();
    await rm(dataDir, { recursive: true, force: true });
  });

  const track = (event = anEvent()) =>
    fetch(`${service.baseUrl}/v1/events/track`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(event),
    });
  const clusterUrl = async (password?: string) =>
    `postgresql://postgres:${password ?? (await readFile(join(dataDir, 'pg-password'), 'utf8'))}@127.0.0.1:${pgPort}/conversions`;
  /** The SQLSTATE a connection with `password` meets, or 'connected'. */
  const connectWith = async (password: string) => {
    const client = new Client({ connectionString: await clusterUrl(password) });
    try {
      await client.connect();
      await client.end();
      return 'connected';
    } catch (error) {
      return (error as { code?: string }).code;
    }
  };
  const storedCount = async (eventId: unknown) => {
    const client = new Client({
      connectionString: await clusterUrl(),
    });
    await client.connect();
    try {
      return Number(
        (await client.query('SELECT count(*) FROM events WHERE event_id = $1', [eventId])).rows[0]
          .count,
      );
    } finally {
      await client.end();
    }
  };
  const postmasterPid = async () =>
    Number((await readFile(join(dataDir, 'pg', 'postmaster.pid'), 'utf8')).split('\n')[0]);

  it('starts without DATABASE_URL, says so, migrates and stores events', async () => {
    await service.start();
    expect(service.output).toMatch(/embedded PostgreSQL/);
    const event = anEvent();
    expect((await track(event)).status).toBe(200);
    expect(await storedCount(event.event_id)).toBe(1);
    // The superuser's password is the cluster's own, readable by this user only.
    expect((await stat(join(dataDir, 'pg-password'))).mode & 0o777).toBe(0o600);
    expect(await connectWith('embedded')).toBe('28P01'); // invalid_password
  }, 120_000);

  it('gives a cluster made with the former fixed password a random one at its next start', async () => {
    const client = new Client({ connectionString: await clusterUrl() });
    await client.connect();
    await client.query("ALTER ROLE postgres PASSWORD 'embedded'");
    await client.end();
    service.kill('SIGTERM');
    expect(await service.waitForExit()).toBe(0);
    await rm(join(dataDir, 'pg-password'));
    await service.start();
    expect(service.output).toContain("Gave the cluster's superuser a random password");
    expect(await connectWith('embedded')).toBe('28P01');
    expect(await connectWith(await readFile(join(dataDir, 'pg-password'), 'utf8'))).toBe(
      'connected',
    );
    expect((await track()).status).toBe(200);
  }, 120_000);

  it('finds a password change cut short after the cluster took it, and names the file it refuses', async () => {
    const setPassword = async (password: string) => {
      const client = new Client({ connectionString: await clusterUrl() });
      await client.connect();
      await client.query(`ALTER ROLE postgres PASSWORD '${password}'`);
      await client.end();
    };
    // Killed between ALTER ROLE and moving the new file into place.
    await setPassword('pending-0123456789');
    service.kill('SIGTERM');
    expect(await service.waitForExit()).toBe(0);
    await rm(join(dataDir, 'pg-password'));
    await writeFile(join(dataDir, 'pg-password.new'), 'pending-0123456789');
    await service.start();
    expect(await readFile(join(dataDir, 'pg-password'), 'utf8')).toBe('pending-0123456789');
    expect(existsSync(join(dataDir, 'pg-password.new'))).toBe(false);
    // A file that no longer holds the cluster's password: said, with the way out.
    await setPassword('elsewhere-0123456789');
    service.kill('SIGTERM');
    expect(await service.waitForExit()).toBe(0);
    await expect(service.start()).rejects.toThrow(/refused the password in .*pg-password/);
    await writeFile(join(dataDir, 'pg-password'), 'elsewhere-0123456789');
    await service.start();
    expect((await track()).status).toBe(200);
    // A file the cluster never took while it still has the former password (a version
    // before pg-password.new, killed mid-change): it gets a random one.
    await setPassword('embedded');
    service.kill('SIGTERM');
    expect(await service.waitForExit()).toBe(0);
    await writeFile(join(dataDir, 'pg-password'), 'never-taken-0123456789');
    await service.start();
    expect(await connectWith('embedded')).toBe('28P01');
    expect(await readFile(join(dataDir, 'pg-password'), 'utf8')).not.toBe('never-taken-0123456789');
    expect((await track()).status).toBe(200);
  }, 120_000);

  it('lets `npm run migrate` and `npm run reconcile` use the running service’s database', async () => {
    const env = {
      ...process.env,
      DATABASE_URL: '',
      EMBEDDED_DATABASE_DIR: dataDir,
      EMBEDDED_DATABASE_PORT: String(pgPort),
      GA4_PROPERTY_ID: '',
      GA4_CREDENTIALS_FILE: '',
    };
    const run = (script: string, ...args: string[]) =>
      spawnSync(process.execPath, [script, ...args], { cwd: ROOT, env, encoding: 'utf8' });
    // A command other than migrate leaves the schema of a service of another version alone.
    const admin = new Client({ connectionString: await clusterUrl() });
    await admin.connect();
    try {
      const { rows } = await admin.query<{ name: string }>(
        'DELETE FROM mikro_orm_migrations WHERE id = (SELECT max(id) FROM mikro_orm_migrations) RETURNING *',
      );
      const behind = run('dist/src/bin/reconcile.js');
      expect(behind.stderr).toContain(`lacks this version's migrations (${rows[0].name})`);
      expect(behind.status).toBe(1);
      await admin.query(
        'INSERT INTO mikro_orm_migrations SELECT * FROM json_populate_record(NULL::mikro_orm_migrations, $1)',
        [rows[0]],
      );
    } finally {
      await admin.end();
    }
    const migrate = run('dist/src/bin/migrate.js');
    expect(migrate.stderr + migrate.stdout).toContain('embedded PostgreSQL of the running service');
    expect(migrate.status).toBe(0);
    // Without GA4 settings the run fails (exit 1), and is stored where the service reads it.
    const reconcile = run('dist/src/bin/reconcile.js');
    expect(reconcile.stderr).toContain('GA4');
    expect(reconcile.status).toBe(1);
    const runs = await fetch(`${service.baseUrl}/v1/reconciliation/runs`, {
      headers: { 'X-API-Key': API_KEY },
    });
    expect(((await runs.json()) as { total: number }).total).toBe(1);
    expect((await track()).status).toBe(200); // and the service still serves
  }, 60_000);

  it('joins the running service only from its own data directory, not from a copy of its pid file', async () => {
    expect(await runningEmbeddedUrl(dataDir, 'conversions')).toContain(`:${pgPort}/`);
    const elsewhere = await mkdtemp(join(tmpdir(), 'ct-embedded-stale-'));
    try {
      await mkdir(join(elsewhere, 'pg'));
      await copyFile(
        join(dataDir, 'pg', 'postmaster.pid'),
        join(elsewhere, 'pg', 'postmaster.pid'),
      );
      expect(await runningEmbeddedUrl(elsewhere, 'conversions')).toBeUndefined();
    } finally {
      await rm(elsewhere, { recursive: true, force: true });
    }
  });

  it('says so when the running service’s PostgreSQL does not answer, rather than reading it as gone', async () => {
    const postmaster = await postmasterPid();
    process.kill(postmaster, 'SIGSTOP');
    try {
      await expect(runningEmbeddedUrl(dataDir, 'conversions')).rejects.toThrow(
        `postmaster.pid names did not answer on 127.0.0.1:${pgPort}`,
      );
    } finally {
      process.kill(postmaster, 'SIGCONT');
    }
    expect(await runningEmbeddedUrl(dataDir, 'conversions')).toContain(`:${pgPort}/`);
  }, 20_000);

  it('recovers after SIGKILL left its postmaster running, keeping acknowledged events', async () => {
    const event = anEvent();
    expect((await track(event)).status).toBe(200);
    const orphan = await postmasterPid();
    service.kill('SIGKILL');
    await service.waitForExit();
    expect(() => process.kill(orphan, 0)).not.toThrow(); // still running, now orphaned

    await service.start();
    expect(service.output).toMatch(/left by a killed run/);
    expect(await storedCount(event.event_id)).toBe(1);
    expect((await track()).status).toBe(200);
  }, 120_000);

  it('stops cleanly on SIGTERM: exit code 0, PostgreSQL shut down', async () => {
    const pid = await postmasterPid();
    service.kill('SIGTERM');
    expect(await service.waitForExit()).toBe(0);
    expect(service.output).toMatch(/Stopped cleanly/);
    expect(existsSync(join(dataDir, 'pg', 'postmaster.pid'))).toBe(false);
    expect(() => process.kill(pid, 0)).toThrow();
  }, 60_000);

  it('stops cleanly on SIGTERM while its PostgreSQL is still starting: exit code 0, PostgreSQL shut down, never serving', async () => {
    service.launch();
    await service.waitForOutput(/starting the embedded PostgreSQL/);
    service.kill('SIGTERM');
    expect(await service.waitForExit(60_000)).toBe(0);
    expect(service.output).toMatch(/SIGTERM received while starting/);
    expect(service.output).toMatch(/Stopped cleanly/);
    expect(service.output).not.toMatch(/Listening on/);
    expect(existsSync(join(dataDir, 'pg', 'postmaster.pid'))).toBe(false);
  }, 120_000);

  it('stops its PostgreSQL when SHUTDOWN_TIMEOUT_MS cuts short a start waiting on it', async () => {
    const hurried = new ServiceProcess(
      {
        PORT: String(httpPort),
        EMBEDDED_DATABASE_DIR: dataDir,
        EMBEDDED_DATABASE_PORT: String(pgPort),
        LOG_LEVEL: 'info',
        SHUTDOWN_TIMEOUT_MS: '1000',
      },
      { ownProcessGroup: true },
    );
    hurried.launch();
    await hurried.waitForOutput(/starting the embedded PostgreSQL/);
    // Its direct child named postgres (not initdb, on a cluster not made yet).
    const postmasterChild = async () => {
      const children = await readFile(`/proc/${hurried.pid}/task/${hurried.pid}/children`, 'utf8');
      for (const pid of children.split(/\s+/).filter(Boolean)) {
        const name = await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '');
        if (name.trim() === 'postgres') return Number(pid);
      }
      return undefined;
    };
    let postgres: number | undefined;
    await expect
      .poll(async () => (postgres = await postmasterChild()), { timeout: 60_000, interval: 10 })
      .toBeDefined();
    // PostgreSQL hangs on its way up (crash recovery, a slow disk): the stop waits for it, then gives up.
    process.kill(postgres!, 'SIGSTOP');
    hurried.kill('SIGTERM');
    expect(await hurried.waitForExit()).toBe(1);
    expect(hurried.output).toMatch(/Shutdown took longer than 1000 ms/);
    process.kill(postgres!, 'SIGCONT');
    await expect
      .poll(
        // An orphan that has exited may linger as a zombie until something reaps it.
        () =>
          readFile(`/proc/${postgres}/stat`, 'utf8').then(
            (stat) => (/^\d+ \(.*\) Z/.test(stat) ? 'gone' : 'running'),
            () => 'gone',
          ),
        { timeout: 30_000 },
      )
      .toBe('gone');
  }, 120_000);

  it('starts over a stale pid file whose process is gone', async () => {
    await writeFile(join(dataDir, 'pg', 'postmaster.pid'), '999999\n');
    await service.start();
    expect((await track()).status).toBe(200);
  }, 120_000);

  it('stops cleanly on Ctrl-C (SIGINT to its whole process group): exit code 0, PostgreSQL shut down', async () => {
    const pid = await postmasterPid();
    service.interrupt();
    expect(await service.waitForExit()).toBe(0);
    expect(service.output).toMatch(/Stopped cleanly/);
    expect(() => process.kill(pid, 0)).toThrow();
  }, 60_000);

  it('stops its PostgreSQL when a signal it does not handle ends it (SIGHUP: its terminal closed)', async () => {
    await service.start();
    const pid = await postmasterPid();
    service.kill('SIGHUP');
    expect(await service.waitForExit()).toBe(128 + constants.signals.SIGHUP);
    expect(() => process.kill(pid, 0)).toThrow();
  }, 120_000);

  it('names the port when another process holds it, rather than failing without a word', async () => {
    service.kill('SIGTERM');
    await service.waitForExit();
    const holder = createServer();
    const heldPort = await freePort();
    await new Promise<void>((resolve) => holder.listen(heldPort, '127.0.0.1', resolve));
    try {
      const blocked = new ServiceProcess({
        PORT: String(httpPort),
        EMBEDDED_DATABASE_DIR: dataDir,
        EMBEDDED_DATABASE_PORT: String(heldPort),
      });
      await expect(blocked.start()).rejects.toThrow(
        new RegExp(
          `did not start on 127\\.0\\.0\\.1:${heldPort} \\(EMBEDDED_DATABASE_PORT\\).*already running on port ${heldPort}`,
        ),
      );
    } finally {
      holder.close();
    }
  }, 120_000);

  it('lets `npm run reconcile` on its own embedded PostgreSQL store a Ctrl-C as interrupted', async () => {
    const ga4 = new FakeGa4();
    await ga4.start();
    ga4.delayMs = 60_000;
    const command = spawn(process.execPath, ['dist/src/bin/reconcile.js'], {
      cwd: ROOT,
      env: {
        ...process.env,
        ...ga4.env(),
        DATABASE_URL: '',
        EMBEDDED_DATABASE_DIR: dataDir,
        EMBEDDED_DATABASE_PORT: String(pgPort),
        RECONCILE_EVENT_TYPES: 'purchase',
      },
      detached: true,
    });
    let stderr = '';
    command.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise((resolve) => command.on('exit', resolve));
    try {
      await expect.poll(() => ga4.runReportCalls.length, { timeout: 60_000 }).toBe(1);
      process.kill(-command.pid!, 'SIGINT'); // Ctrl-C: its PostgreSQL is in its group too
      expect(await exited).toBe(1);
      expect(stderr).toContain('stopped by SIGINT: stored as interrupted');
    } finally {
      // Detached, it would outlive a failed test (and the runner) with its PostgreSQL.
      if (command.exitCode === null && command.signalCode === null)
        process.kill(-command.pid!, 'SIGTERM');
      await ga4.stop();
    }
    await service.start();
    const runs = await fetch(`${service.baseUrl}/v1/reconciliation/runs`, {
      headers: { 'X-API-Key': API_KEY },
    });
    const page = (await runs.json()) as { runs: { error: { code: string } | null }[] };
    expect(page.runs.map((run) => run.error?.code)).toContain('interrupted');
  }, 120_000);

  // Last: a killed postmaster leaves its data directory to the next start's recovery.
  it('kills its PostgreSQL and exits when signalled again while that PostgreSQL does not stop', async () => {
    if (!service.running) await service.start();
    const pid = await postmasterPid();
    const alive = () => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    process.kill(pid, 'SIGSTOP');
    try {
      service.kill('SIGHUP');
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(service.running).toBe(true); // waiting for its PostgreSQL to stop
      service.kill('SIGHUP');
      expect(await service.waitForExit()).toBe(128 + constants.signals.SIGHUP);
      await expect.poll(alive, { timeout: 10_000 }).toBe(false);
    } finally {
      if (alive()) process.kill(pid, 'SIGCONT');
    }
  }, 120_000);
});
