/** Every command module of the CLI, in the order `blockrig --help` lists them. */
import type { CommandModule } from '../command.js';
import { agentCommands } from './agent.js';
import { clusterCommands } from './cluster.js';
import { completionCommand } from './completion.js';
import { controllerCommands } from './controller.js';
import { deviceCommands } from './device.js';
import { deviceFaultCommands } from './device-fault.js';
import { hilCommands } from './hil.js';
import { metaCommands } from './meta.js';
import { nbdCommands } from './nbd.js';
import { rigViewCommands } from './rig-view.js';
import { serialCommands } from './serial.js';
import { serverCommands } from './server.js';
import { startCommand } from './start.js';
import { taskCommands } from './task.js';
import { taskRemoteCommands } from './task-remote.js';
import { volumeCommands } from './volume.js';
import { volumeRemoteCommands } from './volume-remote.js';

export const COMMAND_MODULES: readonly CommandModule[] = [startCommand, deviceCommands, deviceFaultCommands, serialCommands, nbdCommands, serverCommands, agentCommands, clusterCommands, volumeCommands, volumeRemoteCommands, rigViewCommands, metaCommands, controllerCommands, taskCommands, taskRemoteCommands, hilCommands, completionCommand];
