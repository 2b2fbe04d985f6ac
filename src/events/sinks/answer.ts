import { makeEvent } from '../registry.js';
import type { Question, RotateEvent } from '../types.js';

/**
 * The answer when nobody is asked: yes with --auto-approve, else the question's default, announced by a
 * `question-answered` event that says which (as aws-cdk's non-interactive host: "auto-confirmed").
 */
export function answerWithoutAsking(question: Question, autoApprove: boolean, emit: (e: RotateEvent) => void): boolean {
  const answer = autoApprove ? true : question.default;
  emit(
    makeEvent('question-answered', {
      question: question.type,
      answer,
      source: autoApprove ? 'auto-approve' : 'default',
    }),
  );
  return answer;
}
