<?php

declare(strict_types=1);

namespace Coyote\Worker;

use Coyote\Goridge\Frame;
use Coyote\Goridge\FrameException;
use Coyote\Goridge\Relay;
use Coyote\Goridge\RelayClosedException;
use Coyote\Goridge\StreamRelay;

/**
 * The worker side of RoadRunner's protocol: answers the server's pid and
 * stop control frames, receives payloads and sends responses, errors and
 * stream parts. Anything user code echoes is sent to STDERR, since STDOUT
 * carries frames on the pipes relay.
 */
final class Worker
{
    private const STOP_REQUEST = '{"stop":true}';

    private bool $streaming = false;
    private int $streamFrames = 0;

    public function __construct(private Relay $relay, bool $redirectOutput = true)
    {
        if ($redirectOutput) {
            ob_start(static function (string $buffer): string {
                if ($buffer !== '') {
                    fwrite(\STDERR, $buffer);
                }
                return '';
            }, 1);
        }
    }

    /** A worker on the relay named by RR_RELAY (default: pipes). */
    public static function create(): self
    {
        $relay = getenv('RR_RELAY');
        $relay = $relay === false ? 'pipes' : $relay;
        if ($relay === 'pipes') {
            // STDOUT is the relay: a PHP warning or deprecation printed
            // there (the CLI default) would corrupt the frame stream, so
            // PHP's own messages go to STDERR, which the server logs.
            ini_set('display_errors', 'stderr');
        }
        return new self(StreamRelay::create($relay));
    }

    public function relay(): Relay
    {
        return $this->relay;
    }

    /**
     * The next payload, or null when the server asked this worker to stop
     * (or went away): the caller's loop then ends and the process exits.
     */
    public function waitPayload(): ?Payload
    {
        while (true) {
            try {
                $frame = $this->relay->receive();
            } catch (RelayClosedException) {
                return null;
            }
            if ($frame->hasFlag(Frame::CONTROL)) {
                $control = json_decode($frame->payload, true);
                if (!\is_array($control)) {
                    throw new FrameException('invalid control frame: ' . $frame->payload);
                }
                if (!empty($control['stop'])) {
                    return null;
                }
                if (!empty($control['pid'])) {
                    $this->relay->send(new Frame(json_encode(['pid' => getmypid()]), Frame::CONTROL));
                    continue;
                }
                throw new FrameException('unknown control frame: ' . $frame->payload);
            }
            if ($frame->options === [] && $frame->payload === '') {
                continue; // a stray STOP/PONG for a stream that already ended
            }
            $split = $frame->options[0] ?? 0;
            return new Payload(
                substr($frame->payload, $split),
                substr($frame->payload, 0, $split),
                true,
                $frame->flags,
            );
        }
    }

    /**
     * Sends a response, or one part of a streamed response when
     * `$payload->eos` is false. Returns false when the server cancelled the
     * stream (the client went away): stop producing; the SDK has already
     * sent the closing frame.
     */
    public function respond(Payload $payload, int $codec = 0): bool
    {
        if ($this->streaming && $this->stopRequested()) {
            $this->streaming = false;
            $this->relay->send(new Frame('', $codec, [0]));
            return false;
        }
        $stream = 0;
        if (!$payload->eos) {
            $this->streaming = true;
            $stream = Frame::STREAM;
            if (++$this->streamFrames % 5 === 0) {
                $stream |= Frame::PING;
            }
        } else {
            $this->streaming = false;
            $this->streamFrames = 0;
        }
        $this->relay->send(new Frame(
            $payload->header . $payload->body,
            $codec,
            [\strlen($payload->header)],
            $stream,
        ));
        return true;
    }

    /** Reports a failed job; the worker stays in service. */
    public function error(string $message): void
    {
        $this->streaming = false;
        $this->relay->send(new Frame($message, Frame::ERROR));
    }

    /** Asks the server to replace this worker (the request is retried elsewhere). */
    public function stop(): void
    {
        $this->streaming = false;
        $this->relay->send(new Frame(self::STOP_REQUEST, 0, [\strlen(self::STOP_REQUEST)]));
    }

    /** Consumes frames sent during a stream; true when one asks to STOP. */
    private function stopRequested(): bool
    {
        while ($this->relay->hasPending()) {
            $frame = $this->relay->receive();
            if ($frame->hasStreamFlag(Frame::STOP)) {
                return true;
            }
            // PONG answers to our PINGs carry nothing.
        }
        return false;
    }
}
