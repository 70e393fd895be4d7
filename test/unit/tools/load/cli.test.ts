import { main, mixOf } from '../../../../src/tools/load/cli';

describe('load CLI: --mix', () => {
  it('takes the mixes the Artillery processor knows, in any case', () => {
    expect(mixOf('locust')).toBe('locust');
    expect(mixOf('Heavy')).toBe('heavy');
    expect(mixOf(undefined)).toBeUndefined();
  });

  it('refuses a mix it does not know before anything runs: a typo once ran a whole test of zero requests', async () => {
    await expect(main(['run', 'baseline', '--mix', 'locsut'])).rejects.toThrow(
      '--mix wants one of default, locust, predict, light, heavy, uploader, got "locsut"',
    );
  });
});
