import { Injectable } from '@nestjs/common';
import { MikroORM } from '@mikro-orm/postgresql';
import { NotReadyError } from '../common/http/domain-error';
import { ServerClosing } from '../common/http/server-closing';
import { sqlState, SqlState } from '../common/sql-state';
import { APPLIED_MIGRATIONS, notApplied } from '../persistence/migrate';
import { ReadinessResponseDto } from './dto/health-response.dto';

// A server that takes no writes (a standby, or a primary set read-only while it fails
// over) cannot store an event: not ready, though reachable and migrated. Read on each row
// so one query still answers all three.
const READINESS = `SELECT name, current_setting('transaction_read_only') = 'on' AS read_only
  FROM (${APPLIED_MIGRATIONS}) AS applied`;

@Injectable()
export class HealthService {
  constructor(
    private readonly orm: MikroORM,
    private readonly serverClosing: ServerClosing,
  ) {}

  /**
   * One query answers all, on every probe: a database restored from an older backup, or
   * dropped and made again, is not ready though it was when this process started.
   * Plain SQL: the ORM's migrator would first create its table (DDL, even through a
   * transaction pooler) on every probe until all are applied.
   */
  async checkReadiness(): Promise<ReadinessResponseDto> {
    if (this.serverClosing.stopping)
      throw new NotReadyError([{ field: 'service', message: 'shutting down' }]);
    const applied = await this.orm.em
      .getConnection()
      .execute<{ name: string; read_only: boolean }[]>(READINESS)
      .catch((error: unknown) => {
        throw new NotReadyError(
          sqlState(error) === SqlState.undefinedTable
            ? [{ field: 'migrations', message: 'no migrations table' }]
            : [{ field: 'database', message: 'unreachable' }],
        );
      });
    const pending = notApplied(applied);
    if (pending.length > 0) {
      throw new NotReadyError([
        { field: 'migrations', message: `${pending.length} pending: ${pending.join(', ')}` },
      ]);
    }
    if (applied[0].read_only)
      throw new NotReadyError([{ field: 'database', message: 'read-only: it takes no writes' }]);
    return { status: 'ok', checks: { database: 'up', migrations: 'applied' } };
  }
}
