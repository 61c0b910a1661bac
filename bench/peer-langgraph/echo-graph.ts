/**
 * The peer's graph: a StateGraph with one node that echoes the last user message back as an AI message, streamed
 * word by word through a chat model (so the server's `messages` stream mode carries it token by token, as it would a
 * real model's reply). No model, no network: the "model" is the echo below. Loaded by the langgraph API server.
 */
import { type CallbackManagerForLLMRun } from "@langchain/core/callbacks/manager"
import { BaseChatModel } from "@langchain/core/language_models/chat_models"
import { AIMessage, AIMessageChunk, type BaseMessage } from "@langchain/core/messages"
import { ChatGenerationChunk, type ChatResult } from "@langchain/core/outputs"
import { MessagesAnnotation, StateGraph } from "@langchain/langgraph"

const lastUserText = (messages: ReadonlyArray<BaseMessage>): string => {
  for (let i = messages.length - 1; i >= 0; i--) {
    const message = messages[i]!
    if (message.getType() === "human") {
      return typeof message.content === "string" ? message.content : JSON.stringify(message.content)
    }
  }
  return ""
}

/** The same shape of reply as the Yoi scripted engine's (`Scripted reply to: <input>`), one piece per word. */
const replyPieces = (messages: ReadonlyArray<BaseMessage>): Array<string> =>
  `Echo reply to: ${lastUserText(messages)}`.match(/\S+\s*|\s+/g) ?? [""]

class EchoChatModel extends BaseChatModel {
  constructor() {
    super({})
  }

  _llmType(): string {
    return "echo"
  }

  async _generate(messages: Array<BaseMessage>): Promise<ChatResult> {
    const text = replyPieces(messages).join("")
    return { generations: [{ text, message: new AIMessage(text) }] }
  }

  override async *_streamResponseChunks(
    messages: Array<BaseMessage>,
    _options: this["ParsedCallOptions"],
    runManager?: CallbackManagerForLLMRun
  ): AsyncGenerator<ChatGenerationChunk> {
    for (const piece of replyPieces(messages)) {
      const chunk = new ChatGenerationChunk({ text: piece, message: new AIMessageChunk({ content: piece }) })
      yield chunk
      // oxlint-disable-next-line no-await-in-loop -- tokens are emitted in order, one after another
      await runManager?.handleLLMNewToken(piece, undefined, undefined, undefined, undefined, { chunk })
    }
  }
}

const model = new EchoChatModel()

export const graph = new StateGraph(MessagesAnnotation)
  .addNode("echo", async (state) => ({ messages: [await model.invoke(state.messages)] }))
  .addEdge("__start__", "echo")
  .addEdge("echo", "__end__")
  .compile()
