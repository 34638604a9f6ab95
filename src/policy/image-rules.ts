// Production runs exactly the image that was tested: a moving tag can swap the
// software (and its on-disk formats) under the data on the next pull.

import { pinProblem, type PinProblem } from './image-reference.js';
import type { Finding, Rule } from './types.js';

const PROBLEMS: Record<PinProblem, string> = {
  'no-tag': 'has no tag, which means latest',
  latest: 'uses the tag latest',
  channel: 'uses a tag that names a channel, not a version',
};

export const imagePinned: Rule = {
  id: 'image-pinned',
  severity: 'mandatory',
  scope: 'image',
  description: 'Production images are pinned: an exact version tag (not latest, not missing) or a digest.',
  check: (input) => {
    if (!input.production) return [];
    return input.images.flatMap((image): Finding[] => {
      const problem = pinProblem(image.reference);
      if (problem === undefined) return [];
      const users = image.usedBy.length > 0 ? ` (used by ${image.usedBy.join(', ')})` : '';
      return [
        {
          object: { kind: 'image', name: image.reference },
          message: `production image ${image.reference}${users} ${PROBLEMS[problem]}; the next pull may run different software against the same data`,
          fix: 'name an exact version, e.g. postgres:15.8, or a digest, e.g. postgres@sha256:<digest> (docker image inspect --format "{{index .RepoDigests 0}}" <image>)',
        },
      ];
    });
  },
};
