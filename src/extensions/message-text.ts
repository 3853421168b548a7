import type { ChatCompletion, ChatRequest } from "../chat/index.js";

/**
 * Where text lives in a chat request and completion, and how to rewrite it. Extensions that
 * look at "the text" (PII, content policy) see every message's string content and every
 * `text` content part; tool-call arguments are JSON and are left alone.
 */

/** Every text of a request's messages, in order. */
export function requestTexts(request: ChatRequest): string[] {
  const texts: string[] = [];
  for (const message of request.messages) {
    const content = message.content;
    if (typeof content === "string") texts.push(content);
    else if (Array.isArray(content)) {
      for (const part of content)
        if (part.type === "text" && typeof part["text"] === "string") texts.push(part["text"]);
    }
  }
  return texts;
}

/** A copy of `request` with every text replaced by `rewrite(text)`; the input is not mutated. */
export function mapRequestTexts(request: ChatRequest, rewrite: (text: string) => string): ChatRequest {
  return {
    ...request,
    messages: request.messages.map((message) => {
      const content = message.content;
      if (typeof content === "string") return { ...message, content: rewrite(content) };
      if (Array.isArray(content)) {
        return {
          ...message,
          content: content.map((part) =>
            part.type === "text" && typeof part["text"] === "string"
              ? { ...part, text: rewrite(part["text"]) }
              : part,
          ),
        };
      }
      return message;
    }),
  };
}

/** Every choice's message content of a completion. */
export function completionTexts(completion: ChatCompletion): string[] {
  return completion.choices.map((choice) => choice.message.content ?? "");
}

/** A copy of `completion` with each choice's content replaced by `rewrite(text, choiceIndex)`. */
export function mapCompletionTexts(
  completion: ChatCompletion,
  rewrite: (text: string, choiceIndex: number) => string,
): ChatCompletion {
  return {
    ...completion,
    choices: completion.choices.map((choice) =>
      typeof choice.message.content === "string"
        ? {
            ...choice,
            message: { ...choice.message, content: rewrite(choice.message.content, choice.index) },
          }
        : choice,
    ),
  };
}
