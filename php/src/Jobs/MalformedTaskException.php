<?php

declare(strict_types=1);

namespace Coyote\Jobs;

/**
 * The server sent a task whose context (the payload's header) is not the
 * JSON object of the jobs protocol: not JSON, not an object, or a field of
 * the wrong type (see ReceivedTask::fromPayload).
 */
final class MalformedTaskException extends \UnexpectedValueException
{
}
