<?php

declare(strict_types=1);

namespace Coyote\Jobs;

use Coyote\Proto\Jobs\DeclareRequest;
use Coyote\Proto\Jobs\PBEmpty;
use Coyote\Proto\Jobs\Pipelines;
use Coyote\Proto\Jobs\Stats;
use Coyote\RPC\RPC;
use Google\Protobuf\Internal\Message;

/**
 * The producer side: the `jobs` RPC service, called with protobuf
 * (CODEC_PROTO) messages of package jobs.v1.
 *
 * - jobs.Pause / jobs.Resume (Pipelines -> Empty)
 * - jobs.List (Empty -> Pipelines)
 * - jobs.Declare (DeclareRequest -> Empty)
 * - jobs.Destroy (Pipelines -> Pipelines: the ones destroyed)
 * - jobs.Stat (Empty -> Stats)
 * - jobs.Push / jobs.PushBatch through Queue.
 *
 * Every failed call, an error answered by the server included, raises a
 * JobsException whose previous exception is the cause (for a server error,
 * the Coyote\RPC\ServiceException carrying its message).
 *
 * The RPC must have no service prefix (method names are sent in full).
 */
final class Jobs
{
    public function __construct(private readonly RPC $rpc)
    {
    }

    /** A client for `$address`, or RR_RPC from the environment. */
    public static function create(?string $address = null): self
    {
        return new self(RPC::create($address));
    }

    /** A queue for an existing pipeline (nothing is sent). */
    public function connect(string $pipeline, ?Options $defaults = null): Queue
    {
        return new Queue($this, $pipeline, $defaults ?? new Options());
    }

    /** Declares a pipeline (jobs.Declare) and returns its queue. */
    public function declare(CreateInfo $info, ?Options $defaults = null): Queue
    {
        $this->call('jobs.Declare', new DeclareRequest(['pipeline' => $info->toMap()]), new PBEmpty());
        return $this->connect($info->getName(), $defaults);
    }

    public function pause(string ...$pipelines): void
    {
        $this->call('jobs.Pause', self::pipelines($pipelines), new PBEmpty());
    }

    public function resume(string ...$pipelines): void
    {
        $this->call('jobs.Resume', self::pipelines($pipelines), new PBEmpty());
    }

    /** @return list<string> the names of every pipeline */
    public function list(): array
    {
        $answer = $this->call('jobs.List', new PBEmpty(), new Pipelines());
        return array_values(iterator_to_array($answer->getPipelines()));
    }

    /**
     * Stops and removes pipelines.
     *
     * @return list<string> the names the server destroyed
     */
    public function destroy(string ...$pipelines): array
    {
        $answer = $this->call('jobs.Destroy', self::pipelines($pipelines), new Pipelines());
        return array_values(iterator_to_array($answer->getPipelines()));
    }

    /** @return array<string, Stat> every pipeline's state, by name */
    public function stats(): array
    {
        $stats = [];
        foreach ($this->call('jobs.Stat', new PBEmpty(), new Stats())->getStats() as $message) {
            $stat = Stat::fromMessage($message);
            $stats[$stat->pipeline] = $stat;
        }
        return $stats;
    }

    /**
     * One protobuf call; any failure becomes a JobsException.
     *
     * @internal for Queue
     * @template T of Message
     * @param T $result
     * @return T
     * @throws JobsException
     */
    public function call(string $method, Message $request, Message $result): Message
    {
        try {
            return $this->rpc->callProto($method, $request, $result);
        } catch (\Throwable $e) {
            throw JobsException::fromCall($method, $e);
        }
    }

    /** @param array<string> $names */
    private static function pipelines(array $names): Pipelines
    {
        foreach ($names as $name) {
            if ($name === '') {
                throw new \InvalidArgumentException('a pipeline name must not be empty');
            }
        }
        return new Pipelines(['pipelines' => array_values($names)]);
    }
}
