<?php

declare(strict_types=1);

namespace Coyote\Jobs;

use Coyote\Proto\Jobs\HeaderValue;
use Coyote\Proto\Jobs\Job;
use Coyote\Proto\Jobs\Options as OptionsMessage;
use Coyote\Proto\Jobs\PBEmpty;
use Coyote\Proto\Jobs\PushBatchRequest;
use Coyote\Proto\Jobs\PushRequest;

/**
 * One pipeline, seen from a producer. push() sends jobs.Push with a
 * jobs.v1 Job: name, a fresh UUID v4 id (the server refuses an empty id),
 * payload, headers and Options with this pipeline's name. pushBatch()
 * sends them all in one jobs.PushBatch.
 */
final class Queue
{
    /** @internal use Jobs::connect() or Jobs::declare() */
    public function __construct(
        private readonly Jobs $jobs,
        private readonly string $name,
        private readonly Options $defaults = new Options(),
    ) {
        if ($name === '') {
            throw new \InvalidArgumentException('a pipeline name must not be empty');
        }
    }

    public function getName(): string
    {
        return $this->name;
    }

    /** The options of tasks created without their own. */
    public function getDefaultOptions(): Options
    {
        return $this->defaults;
    }

    /**
     * A task for this queue, not yet sent. Without `$options` it gets the
     * queue's defaults.
     *
     * @param array<string, string|list<string>> $headers
     */
    public function create(string $name, string $payload, array $headers = [], ?Options $options = null): Task
    {
        return new Task($name, $payload, $headers, $options ?? $this->defaults);
    }

    /**
     * Pushes a task: `push($task[, $options])` or `push($name, $payload, $options)`;
     * `$options` given with a task replaces the task's.
     *
     * @throws JobsException when the server refuses it
     */
    public function push(Task|string $task, string $payload = '', ?Options $options = null): QueuedTask
    {
        if (\is_string($task)) {
            $task = $this->create($task, $payload, [], $options);
        } elseif ($payload !== '') {
            throw new \InvalidArgumentException('push($task) takes no payload: the task has its own');
        } elseif ($options !== null) {
            $task = $task->withOptions($options);
        }
        $id = self::newId();
        $this->jobs->call('jobs.Push', new PushRequest(['job' => $this->message($id, $task)]), new PBEmpty());
        return new QueuedTask($id, $this->name, $task);
    }

    /** push($task), under the name other SDKs use. */
    public function dispatch(Task $task): QueuedTask
    {
        return $this->push($task);
    }

    /**
     * Pushes tasks in one jobs.PushBatch call, in this order.
     *
     * @param list<Task> $tasks
     * @return list<QueuedTask> in the order given
     * @throws JobsException when the server refuses them
     */
    public function pushBatch(array $tasks): array
    {
        $jobs = [];
        $queued = [];
        foreach ($tasks as $task) {
            if (!$task instanceof Task) {
                throw new \InvalidArgumentException('pushBatch takes Task objects, got ' . get_debug_type($task));
            }
            $id = self::newId();
            $jobs[] = $this->message($id, $task);
            $queued[] = new QueuedTask($id, $this->name, $task);
        }
        $this->jobs->call('jobs.PushBatch', new PushBatchRequest(['jobs' => $jobs]), new PBEmpty());
        return $queued;
    }

    public function pause(): void
    {
        $this->jobs->pause($this->name);
    }

    public function resume(): void
    {
        $this->jobs->resume($this->name);
    }

    /** True when the server reports the pipeline as not ready (paused). */
    public function isPaused(): bool
    {
        $stat = $this->getPipelineStat();
        return $stat !== null && !$stat->ready;
    }

    /** This pipeline's entry in jobs.Stat, or null when the server has none. */
    public function getPipelineStat(): ?Stat
    {
        return $this->jobs->stats()[$this->name] ?? null;
    }

    /** The jobs.v1 Job that push() sends for `$task`. */
    public function message(string $id, Task $task): Job
    {
        $headers = [];
        foreach ($task->getHeaders() as $name => $values) {
            if ($values === []) {
                continue; // an empty header says nothing; none is sent
            }
            $headers[$name] = new HeaderValue(['value' => $values]);
        }
        $options = $task->getOptions();
        return new Job([
            'job' => $task->getName(),
            'id' => $id,
            'payload' => $task->getPayload(),
            'headers' => $headers,
            'options' => new OptionsMessage([
                'priority' => $options->priority,
                'pipeline' => $this->name,
                'delay' => $options->delay,
                'auto_ack' => $options->autoAck,
            ]),
        ]);
    }

    /** A random (version 4) UUID, e.g. "0b7c4f9e-3d1a-4c2b-9f6e-5a8d7c6b5a49". */
    public static function newId(): string
    {
        $bytes = random_bytes(16);
        $bytes[6] = \chr((\ord($bytes[6]) & 0x0f) | 0x40);
        $bytes[8] = \chr((\ord($bytes[8]) & 0x3f) | 0x80);
        return vsprintf('%s%s-%s-%s-%s-%s%s%s', str_split(bin2hex($bytes), 4));
    }
}
