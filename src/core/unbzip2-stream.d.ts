// unbzip2-stream ships no types: a function returning a through stream of the decompressed bytes.
declare module "unbzip2-stream" {
  const unbzip2Stream: () => NodeJS.ReadWriteStream;
  export default unbzip2Stream;
}
