import { Injectable } from '@nestjs/common';
import { MikroORM } from '@mikro-orm/postgresql';
import { NotReadyError } from '../common/http/domain-error';
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
      const pending = await this.orm.getMigrator().getPendingMigrations();
      if (pending.length > 0) {
        throw new NotReadyError([
          {
            field: 'migrations',
            message: `${pending.length} pending: ${pending.map((m) => m.name).join(', ')}`,
          },
        ]);
      }
      this.migrationsApplied = true;
    }
    return { status: 'ok', checks: { database: 'up', migrations: 'applied' } };
  }
}
