import { Inject } from '@nestjs/common';

export const PRIMARY_DATABASE = Symbol('PRIMARY_DATABASE');

/**
 * Where the primary database is (a `ConnectableDatabase`), for a part that opens
 * connections of its own, such as a worker thread, which cannot share the app's pool.
 */
export const InjectPrimaryDatabase = (): ParameterDecorator => Inject(PRIMARY_DATABASE);
