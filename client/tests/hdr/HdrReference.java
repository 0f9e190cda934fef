// HdrHistogram's own Java implementation, as the reference Stillepost's exports are checked
// against (client/tests/reports.rs). Run with the Debian package's jar:
//   java -cp /usr/share/java/hdrhistogram.jar HdrReference.java hgrm <base64 V2+DEFLATE>
//   java -cp /usr/share/java/hdrhistogram.jar HdrReference.java hlog <file.hlog>
import java.nio.ByteBuffer;
import java.util.Base64;
import org.HdrHistogram.EncodableHistogram;
import org.HdrHistogram.Histogram;
import org.HdrHistogram.HistogramLogReader;

public class HdrReference {
    public static void main(String[] args) throws Exception {
        if (args[0].equals("hgrm")) {
            byte[] bytes = Base64.getDecoder().decode(args[1]);
            Histogram h = Histogram.decodeFromCompressedByteBuffer(ByteBuffer.wrap(bytes), 0);
            h.outputPercentileDistribution(System.out, 1000.0);
        } else {
            HistogramLogReader reader = new HistogramLogReader(args[1]);
            EncodableHistogram e;
            while ((e = reader.nextIntervalHistogram()) != null) {
                Histogram h = (Histogram) e;
                System.out.println(h.getTag() + " " + h.getTotalCount() + " "
                        + h.getValueAtPercentile(50.0) + " " + h.getValueAtPercentile(99.0) + " "
                        + h.getMaxValue());
            }
        }
    }
}
