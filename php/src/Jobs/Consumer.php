<?php

declare(strict_types=1);

namespace Coyote\Jobs;

use Coyote\Worker\Worker;

/**
 * The consumer side: a worker of the jobs plugin (started with
 * RR_MODE=jobs) receives one task per payload and answers each with one
 * of ReceivedTask's replies.
 *
 *     $consumer = Consumer::create();
 *     while ($task = $consumer->waitTask()) {
 *         $task->ack();
 *     }
 */
final class Consumer
{
    public function __construct(private readonly Worker $worker)
    {
    }

    /** A consumer on the relay named by RR_RELAY (default: pipes). */
    public static function create(): self
    {
        return new self(Worker::create());
    }

    public function getWorker(): Worker
    {
        return $this->worker;
    }

    /**
     * The next task, or null when the server asked this worker to stop.
     *
     * A task whose context cannot be read is answered with an error frame
     * (the server nacks it) before MalformedTaskException is thrown, so the
     * server is not left waiting for an answer.
     *
     * @throws MalformedTaskException
     */
    public function waitTask(): ?ReceivedTask
    {
        $payload = $this->worker->waitPayload();
        if ($payload === null) {
            return null;
        }
        try {
            return ReceivedTask::fromPayload($this->worker, $payload);
        } catch (MalformedTaskException $e) {
            $this->worker->error($e->getMessage());
            throw $e;
        }
    }
}
