import sharp from 'sharp';
import { isSrgbProfile } from '../../../src/adapters/icc';

const withProfile = async (profile: string) => {
  const jpeg = await sharp({ create: { width: 16, height: 16, channels: 3, background: '#c83c1e' } })
    .withIccProfile(profile)
    .jpeg()
    .toBuffer();
  return { jpeg, icc: (await sharp(jpeg).metadata()).icc };
};
const decode = (jpeg: Buffer, ignoreIcc: boolean) => sharp(jpeg, { ignoreIcc }).raw().toBuffer();

describe('isSrgbProfile', () => {
  it('recognises an sRGB profile, whose conversion to sRGB changes no pixel', async () => {
    const { jpeg, icc } = await withProfile('srgb');
    expect(isSrgbProfile(icc)).toBe(true);
    expect(await decode(jpeg, true)).toEqual(await decode(jpeg, false));
  });

  it('refuses Display P3, whose pixels the conversion does change', async () => {
    const { jpeg, icc } = await withProfile('p3');
    expect(isSrgbProfile(icc)).toBe(false);
    expect(await decode(jpeg, true)).not.toEqual(await decode(jpeg, false));
  });

  it('refuses no profile, a truncated one and garbage', async () => {
    const { icc } = await withProfile('srgb');
    expect(isSrgbProfile(undefined)).toBe(false);
    expect(isSrgbProfile(icc?.subarray(0, 140))).toBe(false);
    expect(isSrgbProfile(new Uint8Array(4096).fill(0xff))).toBe(false);
  });
});
