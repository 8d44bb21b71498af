<?php

declare(strict_types=1);

namespace App\Http\Controllers;

use Illuminate\Http\JsonResponse;
use Laravel\Lumen\Routing\Controller;

final class UserController extends Controller
{
    /** One user as JSON (the benchmark's route: no database, just the framework). */
    public function show(string $id): JsonResponse
    {
        $id = (int) $id;
        return response()->json([
            'id' => $id,
            'name' => "User $id",
            'email' => "user$id@example.test",
            'roles' => $id % 2 === 0 ? ['member'] : ['member', 'editor'],
        ]);
    }
}
