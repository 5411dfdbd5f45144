import { Injectable } from '@nestjs/common';
import { MikroORM } from '@mikro-orm/postgresql';
import { NotReadyError } from '../common/http/domain-error';
import { sqlState, SqlState } from '../common/sql-state';
import { APPLIED_MIGRATIONS, notApplied } from '../persistence/migrate';
import { ReadinessResponseDto } from './dto/health-response.dto';

@Injectable()
export class HealthService {
  // Migrations only move forward while the process lives: once applied, stop asking.
  private migrationsApplied = false;

  constructor(private readonly orm: MikroORM) {}

  async checkReadiness(): Promise<ReadinessResponseDto> {
    try {
      await this.orm.em.getConnection().execute('SELECT 1');
    } catch {
      throw new NotReadyError([{ field: 'database', message: 'unreachable' }]);
    }
    if (!this.migrationsApplied) {
      // Plain SQL: the ORM's migrator would first create its table (DDL, even through a
      // transaction pooler) on every probe until all are applied.
      const applied = await this.orm.em
        .getConnection()
        .execute<{ name: string }[]>(APPLIED_MIGRATIONS)
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
      this.migrationsApplied = true;
    }
    return { status: 'ok', checks: { database: 'up', migrations: 'applied' } };
  }
}
