/** A sink that keeps what it is given, for tests (as aws-cdk's TestIoHost). Answers from a script or the default. */
import { safeEvent } from '../guard.js';
import type { EventOf, EventSink, EventType, Question, RotateEvent } from '../types.js';

export class RecordingSink implements EventSink {
  readonly events: RotateEvent[] = [];
  readonly questions: Question[] = [];
  /** Answers given in order; when empty, the question's default. */
  readonly answers: boolean[];

  constructor(answers: boolean[] = []) {
    this.answers = [...answers];
  }

  emit(event: RotateEvent): void {
    this.events.push(safeEvent(event));
  }

  async ask(question: Question): Promise<boolean> {
    this.questions.push(question);
    return this.answers.length > 0 ? this.answers.shift()! : question.default;
  }

  ofType<K extends EventType>(type: K): EventOf<K>[] {
    return this.events.filter((e): e is EventOf<K> & RotateEvent => e.type === type) as EventOf<K>[];
  }

  codes(): string[] {
    return this.events.map((e) => e.code);
  }
}
