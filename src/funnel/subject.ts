import type { SubjectType } from './funnel-progress.entity';

/** Whose progress a funnel update is about: the user when known, else the visitor. */
export interface Subject {
  type: SubjectType;
  id: string;
}

/** Serialises all funnel writes for one subject, across funnels, replicas and processes. */
export function subjectLockKey(subject: Subject): string {
  return `funnel-subject:${subject.type}:${subject.id}`;
}
