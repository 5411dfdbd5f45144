import { Injectable } from '@nestjs/common';
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { clusterMetricsReader } from './cluster-metrics';

/**
 * Prometheus metrics of this process. One registry per application instance (not the
 * library's global one), so several instances in one process — as in tests — never clash.
 * In a cluster worker (WORKERS > 1) a scrape reads every worker's, labelled by worker.
 */
@Injectable()
export class MetricsService {
  readonly registry = new Registry();

  readonly httpRequestDuration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request duration by method, route template and status',
    labelNames: ['method', 'route', 'status_code'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });

  readonly trackedEvents = new Counter({
    name: 'tracked_events_total',
    help: 'Events accepted by the tracking endpoints, by outcome',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  readonly trackGroupRetries = new Counter({
    name: 'track_group_retries_total',
    help: 'Groups of tracked events retried one by one after their statement failed, by SQLSTATE',
    labelNames: ['sqlstate'] as const,
    registers: [this.registry],
  });

  private readonly readCluster = clusterMetricsReader(this.registry);

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  render(): Promise<string> {
    return this.readCluster ? this.readCluster() : this.registry.metrics();
  }
}
